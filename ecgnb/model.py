"""The tutorial's LSTM autoencoder, rewritten for mini-batches and any number of features, and an
ensemble of them.

Encoder: LSTM n_features→2E, LSTM 2E→E; its last hidden state is the code (B, E).
Decoder: the code repeated once per step, LSTM E→E, LSTM E→2E, Linear 2E→n_features.
For E=128 and ``downsample=1`` this is the tutorial's model, parameter for parameter.

``downsample=k`` lets the LSTMs walk every k-th step: the input is averaged over windows of k
samples, and the decoder's output is interpolated (linearly) back to the full length. An LSTM's
cost grows with the number of steps it walks, so k=2 halves it; the reconstruction keeps the
beat's length, so losses and scores are on the same scale as without it. Optional input
standardization lives in buffers (not parameters), so inputs and reconstructions are
always in the data's own units and losses stay comparable with the tutorial's.

An :class:`Ensemble` holds several such autoencoders trained from other initial weights. Two
trainings of one recipe end in different minima, and an odd beat can score high in one and low
in the other; the mean of their scores is steadier than either (``ecgnb.score``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ecgnb.errors import EcgnbError


MAX_STEPS = 70  # the most steps the LSTMs walk when the downsampling is left to the beat's length


def downsample_for(seq_len: int) -> int:
    """The window that averages a beat of ``seq_len`` samples down to at most :data:`MAX_STEPS` LSTM steps."""
    return max(1, -(-seq_len // MAX_STEPS))


class InputShapeError(EcgnbError):
    """Sequences of another length or feature count than the model was built for."""


class RecurrentAutoencoder(nn.Module):
    """LSTM autoencoder over sequences shaped (batch, seq_len, n_features)."""

    def __init__(self, seq_len: int = 140, n_features: int = 1, embedding_dim: int = 128, downsample: int = 1) -> None:
        super().__init__()
        self.seq_len, self.n_features, self.embedding_dim = seq_len, n_features, embedding_dim
        self.downsample = downsample
        self.steps = -(-seq_len // downsample)  # the steps the LSTMs walk
        hidden = 2 * embedding_dim
        self.enc1 = nn.LSTM(n_features, hidden, batch_first=True)
        self.enc2 = nn.LSTM(hidden, embedding_dim, batch_first=True)
        self.dec1 = nn.LSTM(embedding_dim, embedding_dim, batch_first=True)
        self.dec2 = nn.LSTM(embedding_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_features)
        self.register_buffer("mean", torch.zeros(seq_len, n_features))  # (T, F)
        self.register_buffer("std", torch.ones(seq_len, n_features))  # (T, F)

    def chrono_init_(self, generator: torch.Generator | None = None) -> None:
        """Chrono initialisation (Tallec & Ollivier, 2018) of every LSTM's gate biases.

        PyTorch's default makes each forget gate about 0.5, so a fresh encoder remembers only
        the last few of 140 samples and training sits for epochs on a 'mean beat' plateau.
        Forget biases drawn as log U(1, steps - 1) (input biases their negatives) give the
        cells memories spread up to the number of steps they walk. Same parameters, other start values.
        """
        with torch.no_grad():
            for lstm in (self.enc1, self.enc2, self.dec1, self.dec2):
                h = lstm.hidden_size
                forget = torch.empty(h).uniform_(1.0, max(2.0, self.steps - 1.0), generator=generator).log()
                lstm.bias_ih_l0.zero_()
                lstm.bias_hh_l0.zero_()
                lstm.bias_ih_l0[h:2 * h] = forget  # gate order: input, forget, cell, output
                lstm.bias_ih_l0[:h] = -forget

    def fit_scaling(self, x: np.ndarray) -> None:
        """Standardize each time step with the mean/std of ``x`` (training normals only)."""
        t = torch.as_tensor(x, dtype=torch.float32).reshape(-1, self.seq_len, self.n_features)
        self.mean.copy_(t.mean(dim=0))
        self.std.copy_(t.std(dim=0).clamp_min(1e-6))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) in data units → code (B, E): the encoder's last hidden state."""
        z = (x - self.mean) / self.std  # (B, T, F)
        if self.downsample > 1:  # the mean of each window of `downsample` samples: (B, steps, F)
            z = F.avg_pool1d(z.transpose(1, 2), self.downsample, ceil_mode=True).transpose(1, 2)
        h, _ = self.enc1(z)  # (B, steps, 2E)
        _, (h_n, _) = self.enc2(h)  # h_n: (1, B, E)
        return h_n[0]

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Code (B, E) → reconstruction (B, T, F) in data units."""
        z = code.unsqueeze(1).expand(-1, self.steps, -1)  # (B, steps, E)
        h, _ = self.dec1(z)  # (B, steps, E)
        h, _ = self.dec2(h)  # (B, steps, 2E)
        y = self.out(h)  # (B, steps, F)
        if self.downsample > 1:  # back to every sample, between the window centres: (B, T, F)
            y = F.interpolate(y.transpose(1, 2), size=self.seq_len, mode="linear").transpose(1, 2)
        return y * self.std + self.mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class Ensemble(nn.Module):
    """Autoencoders of one shape, trained apart; they score a beat together (the mean of their scores)."""

    def __init__(self, members: Sequence[RecurrentAutoencoder]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        first = members[0]
        self.seq_len, self.n_features, self.embedding_dim = first.seq_len, first.n_features, first.embedding_dim
        self.downsample = first.downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The members' mean reconstruction (for figures; the anomaly score averages the members' scores)."""
        return torch.stack([m(x) for m in self.members]).mean(dim=0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The members' codes side by side, (B, E × members)."""
        return torch.cat([m.encode(x) for m in self.members], dim=1)


def layer_shapes(model: RecurrentAutoencoder, x: torch.Tensor) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    """Run ``x`` (B, T, F) through ``model`` and record each layer's input and output shape, in order."""
    seen: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []

    def record(name: str):
        def hook(_module: nn.Module, inputs: tuple, output: torch.Tensor | tuple) -> None:
            out = output[0] if isinstance(output, tuple) else output  # an LSTM returns (outputs, (h_n, c_n))
            seen.append((name, tuple(inputs[0].shape), tuple(out.shape)))
        return hook

    handles = [layer.register_forward_hook(record(name)) for name, layer in model.named_children()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (buffers such as the scaling are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def as_sequences(x: np.ndarray | torch.Tensor, model: RecurrentAutoencoder) -> torch.Tensor:
    """(N, T) or (N, T, F) array or tensor → float32 tensor (N, T, F) on the model's device, shape checked."""
    t = torch.as_tensor(x, dtype=torch.float32, device=next(model.parameters()).device)
    t = t.unsqueeze(-1) if t.ndim == 2 else t
    if t.ndim != 3 or tuple(t.shape[1:]) != (model.seq_len, model.n_features):
        raise InputShapeError(f"the model takes sequences of length {model.seq_len} with {model.n_features} "
                              f"feature(s), got an array of shape {tuple(t.shape)}; use data of that shape "
                              "or a model trained on it")
    return t
