"""Train the autoencoder on normal heartbeats: one readable loop, best-validation weights.

Losses are per sequence, on the tutorial's scale: L1 is the sum of absolute errors over
the 140 steps of one heartbeat (the tutorial's ``L1Loss(reduction='sum')`` at batch 1),
averaged over the sequences of a batch. Validation is always that L1, computed in fp32,
so a val loss here reads like a val loss in the tutorial's log.
"""

from __future__ import annotations

import copy
import os
import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from ecgnb import __version__, score
from ecgnb.config import Config
from ecgnb.errors import EcgnbError
from ecgnb.model import RecurrentAutoencoder, as_sequences
from ecgnb.progress import Reporter

# A reused checkpoint must match the run on these: the seed decides which normals it trained
# on (another seed's training set overlaps this run's test set), embedding_dim its shape.
MUST_MATCH = ("seed", "embedding_dim")


class TrainingError(EcgnbError):
    """Training cannot go on (non-finite loss, bad inputs, bad checkpoint)."""


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def build_model(cfg: Config, seq_len: int = 140, n_features: int = 1) -> RecurrentAutoencoder:
    """A freshly initialised model; the seed fixes its starting weights."""
    seed_everything(cfg.seed)
    model = RecurrentAutoencoder(seq_len=seq_len, n_features=n_features, embedding_dim=cfg.embedding_dim)
    if cfg.lstm_init == "chrono":
        model.chrono_init_()
    return model


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("parameter 'device' is cuda but no CUDA device is visible; use device auto or cpu")
    return torch.device(name)


def sequence_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Per-sequence loss (sum over time and features), averaged over the batch."""
    err = (pred.float() - target).abs() if kind == "l1" else (pred.float() - target) ** 2
    return err.sum(dim=(1, 2)).mean()


def validate(model: RecurrentAutoencoder, normals: torch.Tensor, anomalies: torch.Tensor | None,
             sigma: float = 0.0) -> dict[str, float]:
    """Mean L1 of the validation normals and, with anomalies, the ROC-AUC of the anomaly score (``sigma``)."""
    normal = score.score(model, normals, sigma)
    out = {"val_l1": float(normal.l1_sum.mean(dtype=np.float64))}
    if anomalies is not None:
        anomaly = score.score(model, anomalies, sigma).anomaly_score
        is_anomaly = np.r_[np.zeros(len(normal.anomaly_score)), np.ones(len(anomaly))]
        out["val_roc_auc"] = float(roc_auc_score(is_anomaly, np.r_[normal.anomaly_score, anomaly]))
    return out


def _check_bf16(model: RecurrentAutoencoder, x: torch.Tensor, autocast: torch.autocast) -> None:
    """Fail early, and clearly, where this machine cannot run the LSTM in bfloat16."""
    try:
        with torch.no_grad(), autocast:
            model(x)
    except RuntimeError:
        raise TrainingError("parameter 'bf16' is true but this machine cannot run the LSTM in bfloat16 "
                            "(a CPU needs AVX-512 BF16 or AMX); set bf16: false") from None


def fit(model: RecurrentAutoencoder, train: np.ndarray, val: np.ndarray, cfg: Config, *,
        val_anomalies: np.ndarray | None = None, progress: bool = True,
        on_epoch: Callable[[dict[str, Any]], bool | None] | None = None) -> pd.DataFrame:
    """Train ``model`` in place with ``cfg``; keep the weights of the best epoch by ``cfg.select_by``.

    Returns the history: one row per epoch with train_loss, val_l1 (validation normals),
    val_roc_auc (anomaly score, normals vs ``val_anomalies``, when given), lr, seconds (since start) and
    best. ``on_epoch`` sees each row and may return True to stop there.
    Raises :class:`TrainingError` on a non-finite loss, naming the epoch.
    """
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    model.to(device)
    if cfg.normalize:
        model.fit_scaling(train)
    x_anom = as_sequences(val_anomalies, model) if val_anomalies is not None and len(val_anomalies) else None
    if cfg.select_by == "val_roc_auc" and x_anom is None:
        raise TrainingError("select_by val_roc_auc needs validation anomalies; pass val_anomalies "
                            "or set select_by: val_l1")
    x_train, x_val = as_sequences(train, model), as_sequences(val, model)
    if not all(torch.isfinite(x).all() for x in (x_train, x_val, x_anom) if x is not None):
        raise TrainingError("training or validation data hold NaN or inf values; clean the data before training")

    steps_per_epoch = -(-len(x_train) // cfg.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
                 if cfg.lr_schedule == "onecycle" else None)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    if cfg.bf16:
        _check_bf16(model, x_train[:1], autocast)
    shuffler = torch.Generator().manual_seed(cfg.seed)

    rows: list[dict[str, Any]] = []
    best, best_state, stale = float("inf"), copy.deepcopy(model.state_dict()), 0
    start = time.perf_counter()
    # A redraw at most every 30 s: a few lines in a saved notebook, not one per epoch.
    bar = tqdm(range(1, cfg.epochs + 1), desc="training", unit="epoch", disable=not progress, mininterval=30)
    reporter = Reporter(cfg.epochs, steps_per_epoch)  # for `ecgnb run`; a no-op unless it asks
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x_train), generator=shuffler).to(device)
        total = 0.0
        for batch, idx in enumerate(order.split(cfg.batch_size), start=1):
            xb = x_train[idx]
            with autocast:
                pred = model(xb)
            loss = sequence_loss(pred, xb, cfg.loss)
            if not torch.isfinite(loss):
                raise TrainingError(f"epoch {epoch}, batch {batch}: training loss is {loss.item()} "
                                    "(NaN/inf in the data or a diverging run); check the inputs or lower lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(idx)
            reporter.step(batch)
        row = {"epoch": epoch, "train_loss": total / len(x_train), **validate(model, x_val, x_anom, cfg.score_sigma),
               "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - start}
        criterion = row["val_l1"] if cfg.select_by == "val_l1" else -row["val_roc_auc"]  # lower is better
        row["best"] = criterion < best
        if row["best"]:
            best, best_state, stale = criterion, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        rows.append(row)
        reporter.epoch(row)
        bar.set_postfix({k: f"{row[k]:.4g}" for k in ("train_loss", "val_l1", "val_roc_auc") if k in row}
                        | {"best": f"{abs(best):.4g}"}, refresh=False)
        if (on_epoch is not None and on_epoch(row)) or (cfg.patience and stale >= cfg.patience):
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return pd.DataFrame(rows)


def kept_epoch(history: pd.DataFrame) -> pd.Series | None:
    """The history row whose weights :func:`fit` kept (the last row marked best), or None."""
    return history[history["best"]].iloc[-1] if "best" in history and history["best"].any() else None


def save_checkpoint(path: str | Path, model: RecurrentAutoencoder, cfg: Config, history: pd.DataFrame,
                    fingerprint: str) -> None:
    """Write state_dict + config + history + data fingerprint atomically (temp file, then rename)."""
    path = Path(path)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_args": {"seq_len": model.seq_len, "n_features": model.n_features,
                       "embedding_dim": model.embedding_dim},
        "config": cfg.to_dict(),
        "history": {c: history[c].tolist() for c in history.columns},
        "fingerprint": fingerprint,
        "ecgnb_version": __version__,
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, cfg: Config | None = None, fingerprint: str | None = None,
                    ) -> tuple[RecurrentAutoencoder, dict[str, Any]]:
    """Rebuild the model from a checkpoint (``weights_only=True``); check config and data.

    With ``cfg``, every key in MUST_MATCH must match; with ``fingerprint``, the data must
    be the data the model was trained on. Mismatches are a one-line TrainingError.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: checkpoint not found; train first (run 02_train) or fix the path")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model = RecurrentAutoencoder(**ckpt["model_args"])
        model.load_state_dict(ckpt["state_dict"])
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise TrainingError(f"{path}: not a readable ecgnb checkpoint ({type(err).__name__}); "
                            "delete it and train again") from None
    if cfg is not None:
        saved = ckpt["config"]
        diff = [f"{k}={saved.get(k)!r} (run has {getattr(cfg, k)!r})"
                for k in MUST_MATCH if saved.get(k) != getattr(cfg, k)]
        if diff:
            raise TrainingError(f"{path}: checkpoint was trained with other parameters: {', '.join(diff)}; "
                                "use matching parameters or train a new model")
    if fingerprint is not None and ckpt["fingerprint"] != fingerprint:
        raise TrainingError(f"{path}: checkpoint was trained on other data (fingerprint {ckpt['fingerprint']}, "
                            f"this data {fingerprint}); train a new model on this data")
    model.eval()
    return model, ckpt


def history_frame(ckpt: dict[str, Any]) -> pd.DataFrame:
    """The training history stored in a checkpoint, as a table."""
    return pd.DataFrame(ckpt["history"])
