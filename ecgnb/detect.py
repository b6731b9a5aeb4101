"""A detector's scores as tables, and the run's detector fitted.

    loss_table()   every beat of a run's split with its score parts (``losses.csv``, 02_train)
    flag()         the beats of any file scored and flagged at the detector's threshold (``ecgnb score``)
    fit()          the run's detector, trained on the split or loaded from the parameter ``checkpoint``

A beat is flagged when its anomaly score is above the threshold 03_threshold chose, as 04_evaluate counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ecgnb import datasets, train
from ecgnb.config import Config
from ecgnb.data import LABEL_NAMES, DataError, Split
from ecgnb.detector import Detector, sized


def loss_table(det: Detector, split: Split, names: Mapping[int, str] = LABEL_NAMES, normal_label: int = 1,
               ) -> pd.DataFrame:
    """One row per heartbeat of every set: set, target, label, l1_sum, the detector's score parts
    (:meth:`ecgnb.Detector.score_parts`: shape, distance, score), anomaly_score (= score), tutorial.

    Sets: train, val, test (normals, target ``normal_label``), val_anomaly, test_anomaly (an empty set
    has no rows); ``names`` maps targets to labels. The training beats are scored leave-one-out, as an
    unseen normal would be. ``l1_sum`` is the tutorial's score (the plain L1 sum, the members' mean).
    ``tutorial`` marks the first ``len(test)`` anomalies (ECG5000: the tutorial's 145 test anomalies).
    """
    parts = {"train": (split.train, normal_label), "val": (split.val, normal_label), "test": (split.test, normal_label),
             "val_anomaly": (split.val_anomalies, split.val_anomaly_targets),
             "test_anomaly": (split.test_anomalies, split.test_anomaly_targets)}
    frames = []
    for name, (beats, target) in parts.items():
        if len(beats):
            scored = det.score_parts(beats, leave_one_out=name == "train", l1_sum=True)
            frames.append(pd.concat([pd.DataFrame({"set": name, "target": target}, index=scored.index), scored], axis=1))
    table = pd.concat(frames, ignore_index=True)
    table.insert(2, "label", [names[t] for t in table["target"]])
    table["anomaly_score"] = table["score"]
    test_anomaly_rank = np.flatnonzero(~split.val_anomaly_mask)  # positions in the shuffled anomaly order
    table["tutorial"] = False
    table.loc[table["set"] == "test_anomaly", "tutorial"] = test_anomaly_rank < len(split.test)
    return table


def flag(det: Detector, path: Path, run_name: str) -> pd.DataFrame:
    """One row per beat of ``path``: index, label (when the file has labels), anomaly_score, flagged."""
    values, labels = datasets.read_file(path)
    length, channels = values.shape[1], 1 if values.ndim == 2 else values.shape[2]
    model = det.model_
    if length != model.seq_len:
        raise DataError(f"{path}: beats of {length} samples; the run {run_name} scores beats of "
                        f"{model.seq_len}; pass beats of that length")
    if channels != model.n_features:
        raise DataError(f"{path}: beats of {channels} channel(s); the run {run_name} scores beats of "
                        f"{model.n_features}; pass beats with that many channels")
    scores = det.decision_function(values)
    table = pd.DataFrame({"index": np.arange(len(values))})
    if labels is not None:
        table["label"] = labels
    table["anomaly_score"] = scores
    table["flagged"] = scores > det.threshold_
    return table


def fit(cfg: Config, split: Split, fingerprint: str) -> Detector:
    """The run's detector, fitted on the split's training normals; with the parameter ``checkpoint``, that
    file's trained model (checked against the run's data ``fingerprint``), calibrated on the split."""
    det = Detector(cfg)
    if not cfg.checkpoint:
        return det.fit(split.train, val=split.val, val_anomalies=split.val_anomalies, progress=True)
    model, ckpt = train.load_checkpoint(cfg.checkpoint, cfg, fingerprint)
    sized_cfg = sized(cfg.replace(downsample=model.downsample), len(split.train), split.seq_len)
    return det.calibrate(model, train.history_frame(ckpt), split.train, sized_cfg)
