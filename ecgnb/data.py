"""ECG5000's facts, the data error, the fingerprint of any beats, and the tutorial's split of any labelled beats.

The release files are found, fetched, verified and cached by ``ecgnb.ecg5000_files`` (checked and read by
``ecgnb.ecg5000_verify``); labelled beats from any source come from ``ecgnb.datasets``.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ecgnb import atomic
from ecgnb.errors import EcgnbError, one_line

ENV_VAR = "ECGNB_DATA"  # the data: ECG5000's zip or folder, or a beat file (ecgnb.datasets)
CLASS_NAMES = ("Normal", "R on T", "PVC", "SP", "UB")  # labels 1..5
LABEL_NAMES = dict(enumerate(CLASS_NAMES, start=1))  # label → class name
ABNORMAL_NAMES = {label: name for label, name in LABEL_NAMES.items() if label != 1}
SEQ_LEN = 140
COLUMNS = [f"t{i}" for i in range(SEQ_LEN)]

PARTS = ("TRAIN", "TEST")
ROWS = {"TRAIN": 500, "TEST": 4500}
LABEL_COUNTS = {1: 2919, 2: 1767, 3: 96, 4: 194, 5: 24}
SHA256 = {
    "ECG5000_TRAIN.arff": "f2d793c998d853cbef4fed91f44792d680e51ed238cc51e8197a982b6520f4c6",
    "ECG5000_TEST.arff": "d6084cbb427fbce41d4f7ef7f68f4cadf1cb9964961c67598ef8db1432144fa4",
}
DATA_FINGERPRINT = "7315c131ffd1ac02"  # fingerprint() of the release; checks TSV copies, which have no fixed bytes


class DataError(EcgnbError):
    """The data set is missing, damaged or not ECG5000; the message names the file."""


def cache_dir() -> Path:
    """Where verified files are kept: ``$XDG_CACHE_HOME/ecgnb`` or ``~/.cache/ecgnb``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "ecgnb"


# ---------------------------------------------------------------- fingerprints


def fingerprint(df: pd.DataFrame) -> str:
    """16 hex chars of SHA-256 over the float32 values and int8 targets: equal for every source form."""
    return fingerprint_of(df[COLUMNS].to_numpy(dtype=np.float32), df["target"].to_numpy())


def fingerprint_of(values: np.ndarray, targets: np.ndarray) -> str:
    """:func:`fingerprint` of arrays: values (n, T) as float32, labels as int8. Where those would lose
    something (several channels, a label outside -128..127) the shape and int64 labels are hashed too."""
    h = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float32).tobytes())
    small = values.ndim == 2 and (len(targets) == 0 or (targets.min() >= -128 and targets.max() <= 127))
    if small:
        h.update(np.ascontiguousarray(targets, dtype=np.int8).tobytes())
    else:
        h.update(repr(values.shape).encode() + np.ascontiguousarray(targets, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- splitting


@dataclass(frozen=True, eq=False)
class Split:
    """The tutorial's split of normals plus all anomalies, some held out for threshold selection."""

    train: np.ndarray  # (2481, 140) float32 normals (ECG5000; other sets: (n, T) or (n, T, F))
    val: np.ndarray  # (293, 140) normals
    test: np.ndarray  # (145, 140) normals
    anomalies: np.ndarray  # (2081, 140) all anomalies, in shuffled order
    anomaly_targets: np.ndarray  # (2081,) labels 2..5, same order
    val_anomaly_mask: np.ndarray  # (2081,) bool: held out for threshold selection, never tested on

    @property
    def seq_len(self) -> int:
        return int(self.train.shape[1])

    @property
    def n_features(self) -> int:
        return 1 if self.train.ndim == 2 else int(self.train.shape[2])

    @property
    def val_anomalies(self) -> np.ndarray:
        return self.anomalies[self.val_anomaly_mask]

    @property
    def val_anomaly_targets(self) -> np.ndarray:
        return self.anomaly_targets[self.val_anomaly_mask]

    @property
    def test_anomalies(self) -> np.ndarray:
        return self.anomalies[~self.val_anomaly_mask]

    @property
    def test_anomaly_targets(self) -> np.ndarray:
        return self.anomaly_targets[~self.val_anomaly_mask]

    @property
    def tutorial_anomalies(self) -> np.ndarray:
        """The tutorial's test anomalies: the first ``len(test)`` of the shuffled anomalies."""
        return self.anomalies[: len(self.test)]

    def sizes(self) -> dict[str, int]:
        """Row counts of each part."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test),
                "anomalies": len(self.anomalies), "val_anomalies": int(self.val_anomaly_mask.sum()),
                "test_anomalies": int((~self.val_anomaly_mask).sum())}


_SPLIT_FIELDS = tuple(f.name for f in fields(Split))


MIN_NORMALS = 10  # the fewest normal beats that leave training (8), validation (1) and test (1) beats


def split(df: pd.DataFrame, seed: int = 42, val_anomaly_fraction: float = 0.2,
          test_size: float = 0.15, val_test_size: float = 0.33) -> Split:
    """The tutorial's shuffle and normal split of ECG5000's frame (label 1 normal): :func:`split_beats`."""
    return split_beats(df[COLUMNS].to_numpy(dtype=np.float32), df["target"].to_numpy(), 1, seed=seed,
                       val_anomaly_fraction=val_anomaly_fraction, test_size=test_size, val_test_size=val_test_size)


def split_beats(values: np.ndarray, targets: np.ndarray, normal_label: int = 1, *, seed: int = 42,
                val_anomaly_fraction: float = 0.2, test_size: float = 0.15, val_test_size: float = 0.33) -> Split:
    """The tutorial's shuffle and normal split, plus stratified validation anomalies (a pure function).

    ``values`` (n, T) or (n, T, F); beats labelled ``normal_label`` are normal, all others abnormal.
    The validation anomalies come from the anomalies after the first ``len(test)`` (the tutorial's test
    anomalies), stratified by label where every label has two beats there. A set too small for these
    proportions is a DataError naming what is missing.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 <= val_anomaly_fraction < 1.0:
        raise DataError(f"val_anomaly_fraction must be in [0, 1), got {val_anomaly_fraction}")
    order = pd.Series(np.arange(len(values))).sample(frac=1.0, random_state=seed).to_numpy()
    values, targets = values[order], np.asarray(targets)[order]
    normal = targets == normal_label
    n_test = _check_splittable(targets, normal_label, val_anomaly_fraction, test_size, val_test_size)
    train, rest = train_test_split(values[normal], test_size=test_size, random_state=seed)
    val, test = train_test_split(rest, test_size=val_test_size, random_state=seed)
    anomaly_targets = targets[~normal]
    mask = np.zeros(len(anomaly_targets), dtype=bool)
    if val_anomaly_fraction > 0:
        pool = np.arange(n_test, len(anomaly_targets))
        _, held = train_test_split(pool, test_size=val_anomaly_fraction, random_state=seed,
                                   stratify=_strata(anomaly_targets[pool], val_anomaly_fraction))
        mask[held] = True
    return Split(train, val, test, values[~normal], anomaly_targets, mask)


def _check_splittable(targets: np.ndarray, normal_label: int, val_anomaly_fraction: float, test_size: float,
                      val_test_size: float) -> int:
    """The number of test normals the split will make; a DataError when a part would be empty."""
    n_normal, n_anomaly = int((targets == normal_label).sum()), int((targets != normal_label).sum())
    found = ", ".join(f"{k} ×{n}" for k, n in zip(*np.unique(targets, return_counts=True)))
    if n_normal < MIN_NORMALS:
        raise DataError(f"normal_label {normal_label}: {n_normal} normal beat(s) (labels: {found}); the split needs "
                        f"at least {MIN_NORMALS} for training, validation and test; set normal_label or add beats")
    if n_anomaly == 0:
        raise DataError(f"normal_label {normal_label}: no abnormal beats (labels: {found}); the test needs beats "
                        "with another label")
    n_test = math.ceil(val_test_size * math.ceil(test_size * n_normal))
    if val_anomaly_fraction > 0 and n_anomaly < n_test + 2:
        raise DataError(f"{n_anomaly} abnormal beat(s): validation anomalies come after the first {n_test} "
                        f"(the test's, as many as test normals), so at least {n_test + 2} are needed; add abnormal "
                        "beats or set val_anomaly_fraction: 0 (with threshold_rule train_percentile or fixed)")
    return n_test


def _strata(labels: np.ndarray, fraction: float) -> np.ndarray | None:
    """``labels`` when a stratified draw of ``fraction`` of them is possible (2+ beats per label, room for
    one of each on both sides), else None (a plain random draw)."""
    kinds, counts = np.unique(labels, return_counts=True)
    held = math.ceil(fraction * len(labels))
    return labels if counts.min() >= 2 and len(kinds) <= min(held, len(labels) - held) else None


def save_split(s: Split, path: str | Path) -> None:
    """Write the split as .npz, whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{name: getattr(s, name) for name in _SPLIT_FIELDS})


def load_split(path: str | Path) -> Split:
    """Read a split written by :func:`save_split`; a missing or damaged file is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found; run 01_explore (it splits the beats) for this run folder first")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in _SPLIT_FIELDS}
    except (KeyError, ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not a readable split file ({one_line(err)}); delete it and split again") from None
    n = len(arrays["anomalies"])
    if len(arrays["anomaly_targets"]) != n or arrays["val_anomaly_mask"].shape != (n,) \
            or arrays["val_anomaly_mask"].dtype != bool:
        raise DataError(f"{path}: anomaly arrays disagree in length or type; delete it and split again")
    return Split(**arrays)
