"""A detector's scores as tables: every beat of a run's split (``losses.csv``, 02_train), and the beats of
any file with a complete run's detector (``ecgnb score``).

The detector is :meth:`ecgnb.Detector.load` of the run folder (its ``model.pt``, read with
``weights_only=True``, never a pickle, and checked against the run's data fingerprint; the threshold
03_threshold chose). A beat's anomaly score is the one 02_train wrote to ``losses.csv``, and it is
flagged when the score is above the threshold, as 04_evaluate counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, TextIO

import numpy as np
import pandas as pd

from ecgnb import cache, datasets, runs, score
from ecgnb.config import Config
from ecgnb.data import LABEL_NAMES, DataError, Split
from ecgnb.detector import Detector
from ecgnb.errors import EcgnbError


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
            scored = det.score_parts(beats, leave_one_out=name == "train")
            l1_sum = score.score(det.model_, beats).l1_sum.astype(np.float64)
            frames.append(pd.concat([pd.DataFrame({"set": name, "target": target, "l1_sum": l1_sum}), scored], axis=1))
    table = pd.concat(frames, ignore_index=True)
    table.insert(2, "label", [names[t] for t in table["target"]])
    table["anomaly_score"] = table["score"]
    test_anomaly_rank = np.flatnonzero(~split.val_anomaly_mask)  # positions in the shuffled anomaly order
    table["tutorial"] = False
    table.loc[table["set"] == "test_anomaly", "tutorial"] = test_anomaly_rank < len(split.test)
    return table


def load(run_dir: Path) -> Detector:
    """The detector of a complete run folder; a run that is not complete, or a model of other data, is an error."""
    if (run_dir / runs.STATUS).is_file():
        status = runs.effective_status(runs.read_status(run_dir))
        if status != "complete":
            raise EcgnbError(f"{run_dir}: the run is {status}, not complete; score with a complete run")
    elif not (run_dir / runs.METRICS).is_file():
        raise EcgnbError(f"{run_dir}: no {runs.METRICS}: its notebooks have not all run; score with a complete run")
    info = runs.read_json(runs.path(run_dir, runs.DATA_INFO), "01_explore")
    return Detector.load(run_dir, fingerprint=info["fingerprint"])


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


def check_out(out: Path | None, force: bool) -> None:
    """An output file may be written: its folder exists, and it does not (or ``force``)."""
    if out is not None and out.exists() and not force:
        raise EcgnbError(f"{out}: exists; pass --force to replace it or choose another -o")
    if out is not None and not out.parent.is_dir():
        raise EcgnbError(f"{out.parent}: no such folder (-o); create it or choose another -o")


def write_csv(table: pd.DataFrame, out: Path | None, force: bool, stdout: TextIO) -> None:
    """``table`` as CSV to ``out`` (whole or not at all; see :func:`check_out`), else to ``stdout``."""
    if out is None:
        stdout.write(table.to_csv(index=False))
        return
    check_out(out, force)
    runs.write_text_atomic(out, table.to_csv(index=False))


def fit(cfg: Config, split: Split, fingerprint: str) -> Detector:
    """The run's detector, fitted on the split's training normals (``ecgnb run`` reuses an identical training)."""
    return cache.fit_or_reuse(Detector(cfg), split, fingerprint)
