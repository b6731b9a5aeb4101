"""Train the autoencoder on normal heartbeats: one readable loop, best-validation weights.

Losses are per sequence, on the tutorial's scale: L1 is the sum of absolute errors over
the 140 steps of one heartbeat (the tutorial's ``L1Loss(reduction='sum')`` at batch 1),
averaged over the sequences of a batch. Validation is always that L1, computed in fp32,
so a val loss here reads like a val loss in the tutorial's log.
"""

from __future__ import annotations

import contextlib
import copy
import random
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from ecgnb import __version__, atomic, score
from ecgnb.config import Config
from ecgnb.errors import EcgnbError
from ecgnb.model import Ensemble, RecurrentAutoencoder, as_sequences, downsample_for
from ecgnb.progress import Reporter

# A reused checkpoint must match the run on these: the seed decides which normals it trained
# on (another seed's training set overlaps this run's test set), embedding_dim and downsample its shape.
MUST_MATCH = ("seed", "embedding_dim", "downsample")


class TrainingError(EcgnbError):
    """Training cannot go on (non-finite loss, bad inputs, bad checkpoint)."""


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


MEMBER_SEED_STEP = 1000  # member k of an ensemble starts from weight_seed + 1000 k


def member_seed(cfg: Config, k: int) -> int:
    """The seed of member ``k``'s initial weights and batch order (member 0: ``cfg.weight_seed``)."""
    return cfg.weight_seed + MEMBER_SEED_STEP * k


def build_model(cfg: Config, seq_len: int = 140, n_features: int = 1) -> Ensemble:
    """``cfg.members`` freshly initialised autoencoders; their seeds fix their starting weights."""
    members = []
    for k in range(cfg.members):
        seed_everything(member_seed(cfg, k))
        member = RecurrentAutoencoder(seq_len=seq_len, n_features=n_features, embedding_dim=cfg.embedding_dim,
                                      downsample=cfg.downsample or downsample_for(seq_len))
        if cfg.lstm_init == "chrono":
            member.chrono_init_()
        members.append(member)
    return Ensemble(members)


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


def fit(model: Ensemble | RecurrentAutoencoder, train: np.ndarray, val: np.ndarray, cfg: Config, *,
        val_anomalies: np.ndarray | None = None, progress: bool = True,
        on_epoch: Callable[[dict[str, Any]], bool | None] | None = None) -> pd.DataFrame:
    """Train ``model`` in place with ``cfg``: the members of an ensemble all at once, each on its share of
    the cores (one thread at least), each keeping the weights of its best epoch by ``cfg.select_by``
    (``last``: the epoch it ended with).

    Returns the history: one row per member and epoch with member, epoch, train_loss, val_l1
    (validation normals), val_roc_auc (anomaly score, normals vs ``val_anomalies``, when given), lr,
    seconds (since the member started) and best. ``on_epoch`` sees each row and may return True to
    stop that member there. Raises :class:`TrainingError` on a non-finite loss, naming member and epoch.
    """
    members = list(model.members) if isinstance(model, Ensemble) else [model]
    device = resolve_device(cfg.device)
    for member in members:
        member.to(device)
        if cfg.normalize:
            member.fit_scaling(train)
    first = members[0]
    x_anom = as_sequences(val_anomalies, first) if val_anomalies is not None and len(val_anomalies) else None
    if cfg.select_by == "val_roc_auc" and x_anom is None:
        raise TrainingError("select_by val_roc_auc needs validation anomalies; pass val_anomalies "
                            "or set select_by: val_l1")
    x_train, x_val = as_sequences(train, first), as_sequences(val, first)
    if not all(torch.isfinite(x).all() for x in (x_train, x_val, x_anom) if x is not None):
        raise TrainingError("training or validation data hold NaN or inf values; clean the data before training")

    # A redraw at most every 30 s: a few lines in a saved notebook, not one per epoch. On stdout: in a notebook
    # (JupyterLab, papermill's HTML) one plain text line, not a red stderr block.
    bar = tqdm(total=len(members) * cfg.epochs, desc="training", unit="epoch", disable=not progress, mininterval=30,
               file=sys.stdout)
    lock, stop = threading.Lock(), threading.Event()
    # for `ecgnb run`: one record per epoch of any member, and every few seconds inside one; a no-op unless asked
    reporter = Reporter(cfg.epochs, -(-len(x_train) // cfg.batch_size),
                        members=len(members), side_by_side=device.type != "cuda", keeps_best=cfg.select_by != "last")

    def report(row: dict[str, Any]) -> bool:
        reporter.epoch(row)
        with lock:
            bar.update()
            bar.set_postfix({k: f"{row[k]:.4g}" for k in ("train_loss", "val_l1", "val_roc_auc") if k in row}
                            | ({"member": row["member"]} if len(members) > 1 else {}), refresh=False)
            return bool(on_epoch(row)) if on_epoch is not None else False

    def one(k: int) -> list[dict[str, Any]]:
        name = f"member {k}, " if len(members) > 1 else ""
        return _fit_member(members[k], k, name, member_seed(cfg, k), x_train, x_val, x_anom, cfg, device, report,
                           reporter, stop)

    threads = torch.get_num_threads()
    try:
        if len(members) == 1 or device.type == "cuda":
            histories = [one(k) for k in range(len(members))]
        else:  # torch ops release the GIL: all members train at once, each on its share of the cores
            torch.set_num_threads(max(1, threads // len(members)))
            with ThreadPoolExecutor(len(members), thread_name_prefix="member") as pool:
                futures = [pool.submit(one, k) for k in range(len(members))]
                try:
                    wait(futures, return_when=FIRST_EXCEPTION)
                finally:
                    stop.set()  # a failed member, or Ctrl-C here, stops the others at their next batch
            failures = [f.exception() for f in futures if not isinstance(f.exception(), (_Stopped, type(None)))]
            if failures:
                raise failures[0]
            histories = [f.result() for f in futures]
    finally:
        torch.set_num_threads(threads)
        bar.close()
    return pd.DataFrame([row for rows in histories for row in rows])


class _Stopped(Exception):
    """Another member failed or training was interrupted."""


def adam(model: RecurrentAutoencoder, cfg: Config) -> torch.optim.Adam:
    """The optimiser of training: Adam at ``cfg.lr`` (fused: one kernel per step, not one per tensor)."""
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)


def step(model: RecurrentAutoencoder, xb: torch.Tensor, optimizer: torch.optim.Optimizer, cfg: Config,
         autocast: contextlib.AbstractContextManager = contextlib.nullcontext()) -> torch.Tensor:
    """One optimizer step on a batch ``xb`` (B, T, F) of normal beats; returns the batch's loss (before the step)."""
    with autocast:
        pred = model(xb)  # the reconstruction, (B, T, F)
    loss = sequence_loss(pred, xb, cfg.loss)  # one number: the mean over the batch of each beat's summed error
    if torch.isfinite(loss):  # a non-finite loss changes nothing; the caller stops
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # the gradient of the loss for every weight
        if cfg.grad_clip > 0:  # a rare huge gradient is scaled down to length grad_clip
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()  # Adam moves every weight a little against its gradient
    return loss


def _fit_member(model: RecurrentAutoencoder, k: int, name: str, seed: int, x_train: torch.Tensor, x_val: torch.Tensor,
                x_anom: torch.Tensor | None, cfg: Config, device: torch.device,
                report: Callable[[dict[str, Any]], bool], reporter: Reporter,
                stop: threading.Event) -> list[dict[str, Any]]:
    """Train member ``k`` (``name`` starts its error messages) with batch order ``seed``; keep its best weights."""
    steps_per_epoch = -(-len(x_train) // cfg.batch_size)
    optimizer = adam(model, cfg)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
                 if cfg.lr_schedule == "onecycle" else None)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    if cfg.bf16:
        _check_bf16(model, x_train[:1], autocast)
    shuffler = torch.Generator().manual_seed(seed)

    rows: list[dict[str, Any]] = []
    best, best_state, stale = float("inf"), copy.deepcopy(model.state_dict()), 0
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=shuffler).to(device)
        total = 0.0
        for batch, idx in enumerate(order.split(cfg.batch_size), start=1):
            if stop.is_set():
                raise _Stopped
            loss = step(model, x_train[idx], optimizer, cfg, autocast)
            if not torch.isfinite(loss):
                raise TrainingError(f"{name}epoch {epoch}, batch {batch}: training loss is {loss.item()} "
                                    "(NaN/inf in the data or a diverging run); check the inputs or lower lr")
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(idx)
            reporter.step(batch)
        row = {"member": k, "epoch": epoch, "train_loss": total / len(x_train),
               **validate(model, x_val, x_anom, cfg.score_sigma),
               "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - start}
        if cfg.select_by == "last":  # lower is better: each epoch beats every earlier one
            criterion = -epoch
        elif cfg.select_by == "val_l1":
            criterion = row["val_l1"]
        else:
            criterion = -row["val_roc_auc"]
        row["best"] = criterion < best
        if row["best"]:
            best, best_state, stale = criterion, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        rows.append(row)
        if report(row) or (cfg.patience and stale >= cfg.patience):
            break
    model.load_state_dict(best_state)
    model.eval()
    return rows


def kept_epochs(history: pd.DataFrame) -> pd.DataFrame:
    """One row per member: the history row whose weights :func:`fit` kept (the member's last row marked best)."""
    return history[history["best"]].groupby("member", sort=True).tail(1).set_index("member")


def save_checkpoint(path: str | Path, model: Ensemble | RecurrentAutoencoder, cfg: Config, history: pd.DataFrame,
                    fingerprint: str, extra: Mapping[str, Any] | None = None) -> None:
    """Write state_dict + config + history + data fingerprint (+ ``extra``) atomically (temp file, then rename)."""
    path = Path(path)
    ensemble = model if isinstance(model, Ensemble) else Ensemble([model])
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in ensemble.state_dict().items()},
        "model_args": {"seq_len": ensemble.seq_len, "n_features": ensemble.n_features,
                       "embedding_dim": ensemble.embedding_dim, "downsample": ensemble.downsample,
                       "members": len(ensemble.members)},
        "config": cfg.to_dict(),
        "history": {c: history[c].tolist() for c in history.columns},
        "fingerprint": fingerprint,
        "ecgnb_version": __version__,
        **(extra or {}),
    }
    with atomic.replacing(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, cfg: Config | None = None, fingerprint: str | None = None,
                    ) -> tuple[Ensemble, dict[str, Any]]:
    """Rebuild the model from a checkpoint (``weights_only=True``); check config and data.

    With ``cfg``, every key in MUST_MATCH must match; with ``fingerprint``, the data must
    be the data the model was trained on. Mismatches are a one-line TrainingError.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: checkpoint not found; train first (run 02_train) or fix the path")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        args = dict(ckpt["model_args"])
        n_members = args.pop("members")
        model = Ensemble([RecurrentAutoencoder(**args) for _ in range(n_members)])
        model.load_state_dict(ckpt["state_dict"])
        saved, trained_on = dict(ckpt["config"]), ckpt["fingerprint"]
    except Exception as err:  # noqa: BLE001 - any unreadable or incomplete file gets the same advice
        raise TrainingError(f"{path}: not a readable ecgnb checkpoint ({type(err).__name__}); "
                            "delete it and train again") from None
    if cfg is not None:
        diff = [f"{k}={saved.get(k)!r} (run has {getattr(cfg, k)!r})"
                for k in MUST_MATCH if getattr(cfg, k) is not None and saved.get(k) != getattr(cfg, k)]
        if diff:
            raise TrainingError(f"{path}: checkpoint was trained with other parameters: {', '.join(diff)}; "
                                "use matching parameters or train a new model")
    if fingerprint is not None and trained_on != fingerprint:
        raise TrainingError(f"{path}: checkpoint was trained on other data (fingerprint {trained_on}, "
                            f"this data {fingerprint}); train a new model on this data")
    model.eval()
    return model, ckpt


def history_frame(ckpt: dict[str, Any]) -> pd.DataFrame:
    """The training history stored in a checkpoint, as a table."""
    return pd.DataFrame(ckpt["history"])
