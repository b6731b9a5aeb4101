"""A complete run as a detector: score and flag the beats of any file with its members and threshold.

The run folder's ``model.pt`` is read only through ``train.load_checkpoint`` (``weights_only=True``,
never a pickle), checked against the run's parameters and data fingerprint as 02_train checks a
checkpoint; ``threshold.json`` is the threshold 03_threshold chose. A beat's anomaly score is the
one 02_train computes, and it is flagged when the score is above the threshold, as 04_evaluate
counts. ``ecgnb score RUN FILE`` is the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from ecgnb import datasets, runs, score, train
from ecgnb.data import DataError
from ecgnb.errors import EcgnbError
from ecgnb.model import Ensemble
from ecgnb.threshold import Threshold


@dataclass(frozen=True)
class Detector:
    """The members, threshold and score width of one complete run."""

    run_dir: Path
    model: Ensemble
    threshold: Threshold
    sigma: float

    def flag(self, path: Path) -> pd.DataFrame:
        """One row per beat of ``path``: index, label (when the file has labels), anomaly_score, flagged."""
        values, labels = datasets.read_file(path)
        length, channels = values.shape[1], 1 if values.ndim == 2 else values.shape[2]
        if length != self.model.seq_len:
            raise DataError(f"{path}: beats of {length} samples; the run {self.run_dir.name} scores beats of "
                            f"{self.model.seq_len}; pass beats of that length")
        if channels != self.model.n_features:
            raise DataError(f"{path}: beats of {channels} channel(s); the run {self.run_dir.name} scores beats of "
                            f"{self.model.n_features}; pass beats with that many channels")
        scores = score.score(self.model, values, self.sigma).anomaly_score.astype(np.float64)
        table = pd.DataFrame({"index": np.arange(len(values))})
        if labels is not None:
            table["label"] = labels
        table["anomaly_score"] = scores
        table["flagged"] = scores > self.threshold.value
        return table


def load(run_dir: Path) -> Detector:
    """The detector of a complete run folder; a run that is not complete, or a mismatching model, is an error."""
    if (run_dir / runs.STATUS).is_file():
        status = runs.effective_status(runs.read_status(run_dir))
        if status != "complete":
            raise EcgnbError(f"{run_dir}: the run is {status}, not complete; score with a complete run")
    elif not (run_dir / runs.METRICS).is_file():
        raise EcgnbError(f"{run_dir}: no {runs.METRICS}: its notebooks have not all run; score with a complete run")
    cfg = runs.load_config(run_dir)
    info = runs.read_json(runs.path(run_dir, runs.DATA_INFO), "01_explore")
    model, _ = train.load_checkpoint(runs.path(run_dir, runs.CHECKPOINT), cfg, info["fingerprint"])
    return Detector(run_dir, model, Threshold.load(runs.path(run_dir, runs.THRESHOLD)), cfg.score_sigma)


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
