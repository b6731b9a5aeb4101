"""Trained models kept by content, so a re-render that cannot change the weights reuses them.

A report whose only change is the threshold rule (or anything else that acts after training)
would otherwise train the same model again. The cache key hashes everything that can change
the trained weights: every parameter (as the data sizes them) except those in :data:`AFTER_TRAINING`, the exact
training inputs (the split's training normals, validation normals and validation anomalies),
the source of the model, training and scoring code, the torch version, CPU kernel set and thread
count, and the settings that steer the kernels' rounding (:data:`ROUNDING_ENV`).
Another machine, another torch or an edited ``train.py`` gives another key, never a stale model.

``ecgnb run`` turns the cache on by setting ``$ECGNB_MODEL_CACHE`` for the notebook kernels (``--no-cache``
leaves it off); JupyterLab and the notebook tests never see it, so they always train. Entries are
written whole (temp file, then rename); a damaged one is deleted and the model trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ecgnb import progress, train
from ecgnb.config import THRESHOLD_KEYS, Config
from ecgnb.data import MODEL_CACHE_ENV, Split
from ecgnb.detector import Detector, sized
from ecgnb.machine import ROUNDING_ENV

# the data enters the key as the split's arrays; the distance and the threshold act on the trained model
AFTER_TRAINING = ("data_path", "distance_k", "distance_weight", "spectrum_weight", *THRESHOLD_KEYS)
PACKAGE = Path(__file__).resolve().parent
CODE = ("model.py", "train.py", "score.py")  # the code a trained model depends on


def folder() -> Path | None:
    """The cache folder named by ``$ECGNB_MODEL_CACHE``, or None (cache off)."""
    value = os.environ.get(MODEL_CACHE_ENV)
    return Path(value) if value else None


def key(cfg: Config, split: Split) -> str:
    """Hex digest of everything that can change the weights a :class:`~ecgnb.detector.Detector` with ``cfg``
    trains on ``split``: the parameters as the data sizes them (:func:`ecgnb.detector.sized`), the beats, the code."""
    h = hashlib.sha256()
    cfg = sized(cfg, len(split.train), split.seq_len)
    params = {k: v for k, v in cfg.to_dict().items() if k not in AFTER_TRAINING}
    h.update(json.dumps(params, sort_keys=True).encode())
    for part in (split.train, split.val, split.val_anomalies):
        h.update(np.ascontiguousarray(part, dtype=np.float32).tobytes())
    for name in CODE:
        h.update((PACKAGE / name).read_bytes())
    h.update(f"torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()} threads {torch.get_num_threads()}"
             .encode())
    h.update(json.dumps({k: os.environ.get(k) for k in ROUNDING_ENV}).encode())
    return h.hexdigest()


def say(text: str) -> None:
    """Print in the notebook and tell the command that runs it (``ecgnb run`` prints it too)."""
    print(text)
    progress.note(text)


def fit_or_reuse(det: Detector, split: Split, fingerprint: str, *, log: Callable[[str], None] = say) -> Detector:
    """``det`` fitted on the split's training normals: by training, or with the weights and history of an
    identical training from the cache, or (parameter ``checkpoint``) from that file; calibrated either way."""
    cfg = det.cfg
    if cfg.checkpoint:
        model, ckpt = train.load_checkpoint(cfg.checkpoint, cfg, fingerprint)
        sized_cfg = sized(cfg.replace(downsample=model.downsample), len(split.train), split.seq_len)
        return det.calibrate(model, train.history_frame(ckpt), split.train, sized_cfg)
    where = folder()
    if where is None:
        return det.fit(split.train, val=split.val, val_anomalies=split.val_anomalies, progress=True)
    digest = key(cfg, split)
    entry = where / f"{digest}.pt"
    if entry.is_file():
        try:
            model, ckpt = train.load_checkpoint(entry, cfg, fingerprint)
            if ckpt.get("cache_key") != digest:
                raise train.TrainingError(f"{entry}: holds another key")
        except train.TrainingError as err:
            log(f"cache: entry {digest[:12]} is damaged ({err}); deleting it and training again")
            entry.unlink(missing_ok=True)
        else:
            log(f"cache: reused the model trained for these inputs ({digest[:12]}); ecgnb run --no-cache retrains")
            return det.calibrate(model, train.history_frame(ckpt), split.train,
                                 sized(cfg, len(split.train), split.seq_len))
    det.fit(split.train, val=split.val, val_anomalies=split.val_anomalies, progress=True)
    where.mkdir(parents=True, exist_ok=True)
    train.save_checkpoint(entry, det.model_, det.config_, det.history_, fingerprint, extra={"cache_key": digest})
    log(f"cache: stored the trained model as {digest[:12]}")
    return det
