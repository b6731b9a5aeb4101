"""A faithful port of the tutorial's model and batch-1 training loop, kept as the baseline.

Same layers, same reshapes, same loop (Adam 1e-3, L1 sum, one sequence per step, validation
after every epoch). Only the imports and the device handling are adapted; it is here to be
measured against and to prove that ``ecgnb.model`` computes the same function.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, seq_len: int, n_features: int, embedding_dim: int = 64) -> None:
        super().__init__()
        self.seq_len, self.n_features = seq_len, n_features
        self.embedding_dim, self.hidden_dim = embedding_dim, 2 * embedding_dim
        self.rnn1 = nn.LSTM(input_size=n_features, hidden_size=self.hidden_dim, num_layers=1, batch_first=True)
        self.rnn2 = nn.LSTM(input_size=self.hidden_dim, hidden_size=embedding_dim, num_layers=1, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape((1, self.seq_len, self.n_features))
        x, (_, _) = self.rnn1(x)
        x, (hidden_n, _) = self.rnn2(x)
        return hidden_n.reshape((self.n_features, self.embedding_dim))


class Decoder(nn.Module):
    def __init__(self, seq_len: int, input_dim: int = 64, n_features: int = 1) -> None:
        super().__init__()
        self.seq_len, self.input_dim = seq_len, input_dim
        self.hidden_dim, self.n_features = 2 * input_dim, n_features
        self.rnn1 = nn.LSTM(input_size=input_dim, hidden_size=input_dim, num_layers=1, batch_first=True)
        self.rnn2 = nn.LSTM(input_size=input_dim, hidden_size=self.hidden_dim, num_layers=1, batch_first=True)
        self.output_layer = nn.Linear(self.hidden_dim, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.repeat(self.seq_len, self.n_features)
        x = x.reshape((self.n_features, self.seq_len, self.input_dim))
        x, (hidden_n, cell_n) = self.rnn1(x)
        x, (hidden_n, cell_n) = self.rnn2(x)
        x = x.reshape((self.seq_len, self.hidden_dim))
        return self.output_layer(x)


class RecurrentAutoencoder(nn.Module):
    def __init__(self, seq_len: int, n_features: int, embedding_dim: int = 64) -> None:
        super().__init__()
        self.encoder = Encoder(seq_len, n_features, embedding_dim)
        self.decoder = Decoder(seq_len, embedding_dim, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def create_dataset(x: np.ndarray) -> list[torch.Tensor]:
    """The tutorial's dataset: one (seq_len, 1) tensor per sequence."""
    return [torch.tensor(s).unsqueeze(1).float() for s in np.asarray(x, dtype=np.float32)]


def train_epoch(model: RecurrentAutoencoder, optimizer: torch.optim.Optimizer,
                train_dataset: list[torch.Tensor]) -> float:
    """One epoch of the tutorial's loop: one sequence per optimizer step; mean train loss."""
    criterion = nn.L1Loss(reduction="sum")
    model = model.train()
    train_losses = []
    for seq_true in train_dataset:
        optimizer.zero_grad()
        seq_pred = model(seq_true)
        loss = criterion(seq_pred, seq_true)
        loss.backward()
        optimizer.step()
        train_losses.append(loss.item())
    return float(np.mean(train_losses))


def validate(model: RecurrentAutoencoder, val_dataset: list[torch.Tensor]) -> float:
    """The tutorial's validation pass: batch 1, no gradients; mean val loss."""
    criterion = nn.L1Loss(reduction="sum")
    model = model.eval()
    with torch.no_grad():
        return float(np.mean([criterion(model(seq_true), seq_true).item() for seq_true in val_dataset]))
