"""Reconstruct any set of heartbeats in batches and score each one by its reconstruction error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ecgnb.data import CLASS_NAMES, Split
from ecgnb.model import RecurrentAutoencoder, as_sequences


@dataclass(frozen=True)
class Scores:
    """Per-sequence results: reconstruction (N, T), L1 sum (the tutorial's loss) and L1 mean."""

    reconstruction: np.ndarray
    l1_sum: np.ndarray
    l1_mean: np.ndarray


@torch.inference_mode()
def score(model: RecurrentAutoencoder, x: np.ndarray | torch.Tensor, batch_size: int = 1024) -> Scores:
    """Reconstruct ``x`` (N, T) or (N, T, F), array or tensor, with ``model`` in fp32 and score every sequence."""
    model.eval()
    seqs = as_sequences(x, model)
    recon = torch.cat([model(xb) for xb in seqs.split(batch_size)]) if len(seqs) else seqs.clone()
    err = (recon - seqs).abs().flatten(1)  # (N, T*F)
    return Scores(reconstruction=recon.squeeze(-1).cpu().numpy(),
                  l1_sum=err.sum(dim=1).cpu().numpy(), l1_mean=err.mean(dim=1).cpu().numpy())


@torch.inference_mode()
def embed(model: RecurrentAutoencoder, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The code (N, E) the encoder gives each sequence (for the latent-space map)."""
    model.eval()
    return torch.cat([model.encode(xb) for xb in as_sequences(x, model).split(batch_size)]).cpu().numpy()


def loss_table(model: RecurrentAutoencoder, split: Split) -> pd.DataFrame:
    """One row per heartbeat of every set: set, target, label, l1_sum, l1_mean, tutorial.

    Sets: train, val, test (normals), val_anomaly, test_anomaly. ``tutorial`` marks the
    first 145 anomalies (the tutorial's test anomalies; always in test_anomaly).
    """
    parts = {"train": (split.train, 1), "val": (split.val, 1), "test": (split.test, 1),
             "val_anomaly": (split.val_anomalies, split.val_anomaly_targets),
             "test_anomaly": (split.test_anomalies, split.test_anomaly_targets)}
    frames = []
    for name, (beats, target) in parts.items():
        s = score(model, beats)
        frames.append(pd.DataFrame({"set": name, "target": target, "l1_sum": s.l1_sum, "l1_mean": s.l1_mean}))
    table = pd.concat(frames, ignore_index=True)
    table.insert(2, "label", [CLASS_NAMES[t - 1] for t in table["target"]])
    test_anomaly_rank = np.flatnonzero(~split.val_anomaly_mask)  # positions in the shuffled anomaly order
    table["tutorial"] = False
    table.loc[table["set"] == "test_anomaly", "tutorial"] = test_anomaly_rank < len(split.test)
    return table
