"""Reconstruct any set of heartbeats in batches and score each one by its reconstruction error.

The reconstruction is smooth; a recording is not. The tutorial's score, the L1 sum of the
residual, adds up that recording noise at every one of 140 samples, so a clean abnormal beat can
score below a noisy normal one. The anomaly score low-passes the residual first (a Gaussian of
``sigma`` samples) and then sums its absolute value: a shape error that lasts a few samples
counts in full, sample-to-sample noise mostly cancels. ``sigma=0`` is the tutorial's L1 sum.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from ecgnb.model import Ensemble, RecurrentAutoencoder, as_sequences


@dataclass(frozen=True)
class Scores:
    """Per-sequence results: reconstruction (N, T), L1 sum (the tutorial's loss), L1 mean, anomaly score."""

    reconstruction: np.ndarray
    l1_sum: np.ndarray
    l1_mean: np.ndarray
    anomaly_score: np.ndarray  # L1 sum of the residual after a Gaussian low-pass; = l1_sum at sigma 0


@torch.inference_mode()
def score(model: RecurrentAutoencoder | Ensemble, x: np.ndarray | torch.Tensor, sigma: float = 0.0,
          batch_size: int = 1024) -> Scores:
    """Reconstruct ``x`` (N, T) or (N, T, F), array or tensor, with ``model`` in fp32 and score every sequence.

    ``sigma``: width in samples of the Gaussian low-pass applied along time to the residual
    before the anomaly score sums it (0: no filter, the score is the L1 sum). An ensemble's
    scores are the mean of its members' scores, its reconstruction their mean reconstruction.
    """
    model.eval()
    seqs = as_sequences(x, model)
    members = model.members if isinstance(model, Ensemble) else [model]
    parts = [_score_one(member, seqs, sigma, batch_size) for member in members]
    return Scores(*(np.mean([getattr(p, f.name) for p in parts], axis=0, dtype=np.float64).astype(np.float32)
                    for f in fields(Scores)))


def _score_one(model: RecurrentAutoencoder, seqs: torch.Tensor, sigma: float, batch_size: int) -> Scores:
    recon = torch.cat([model(xb) for xb in seqs.split(batch_size)])  # no rows: split gives one empty batch
    residual = (recon - seqs).cpu().numpy()  # (N, T, F)
    err = np.abs(residual)
    return Scores(reconstruction=recon.squeeze(-1).cpu().numpy(), l1_sum=err.sum(axis=(1, 2)),
                  l1_mean=err.mean(axis=(1, 2)), anomaly_score=smoothed_l1(residual, sigma))


def smoothed_l1(residual: np.ndarray, sigma: float) -> np.ndarray:
    """Per sequence: sum of |residual| after a Gaussian low-pass of ``sigma`` samples along time (axis 1)."""
    smoothed = gaussian_filter1d(residual, sigma, axis=1, mode="nearest") if sigma > 0 else residual
    return np.abs(smoothed).sum(axis=tuple(range(1, smoothed.ndim)))


@torch.inference_mode()
def embed(model: RecurrentAutoencoder | Ensemble, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The code (N, E) the encoder gives each sequence (an ensemble's: its members' side by side)."""
    model.eval()
    return torch.cat([model.encode(xb) for xb in as_sequences(x, model).split(batch_size)]).cpu().numpy()
