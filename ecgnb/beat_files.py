"""The beat file formats, one reader each: a CSV/TSV table, ARFF, NumPy's ``.npz`` (docs/data.md).

Each reader returns the values as float64, (n, T) or (n, T, F), NaN where ARFF says ``?``, and the labels as
the file holds them (text or numbers), or None for a file without labels. What the values and labels must be is
the caller's check: ``datasets.read_file`` for users' beat files, ``ecg5000_verify`` for ECG5000's release files.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ecgnb.data import DataError
from ecgnb.errors import one_line

LABEL_COLUMN = "label"
ARFF_LABELS = ("label", "target", "class")
_CHANNEL_COLUMN = re.compile(r"(.+)_(\d+)")


def read_table(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A ``.csv`` or ``.tsv``, one beat per row: with a header, the ``label`` column (any case) and a column per
    sample; without one (no field of the first row is text), the label first: the UCR layout."""
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open() as f:
        first = f.readline()
    if not any(_is_text(cell) for cell in first.rstrip("\r\n").split(sep)):  # no header: UCR, label first
        table = pd.read_csv(path, sep=sep, header=None, dtype=np.float64).to_numpy()
        return table[:, 1:], table[:, 0]
    frame = pd.read_csv(path, sep=sep, dtype=str)
    frame.columns = [str(c).strip() for c in frame.columns]
    label_cols = [c for c in frame.columns if c.lower() == LABEL_COLUMN]
    labels = frame.pop(label_cols[0]).to_numpy() if label_cols else None
    for col in frame.columns:
        try:
            frame[col] = frame[col].astype(np.float64)
        except ValueError:
            raise DataError(f"{path}: column {col!r} holds text; every column but '{LABEL_COLUMN}' must hold "
                            "numbers") from None
    return _channels(path, list(frame.columns), frame.to_numpy(dtype=np.float64)), labels


def _is_text(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return bool(cell.strip())
    return False


def _channels(path: Path, columns: list[str], values: np.ndarray) -> np.ndarray:
    """(n, T) for one channel; (n, T, F) when every column is ``<channel>_<sample>`` with 2+ channel names."""
    matches = [_CHANNEL_COLUMN.fullmatch(c) for c in columns]
    if not all(matches):
        return values
    channels = list(dict.fromkeys(m.group(1) for m in matches if m))
    if len(channels) < 2:
        return values
    picked = [[i for i, m in enumerate(matches) if m and m.group(1) == ch] for ch in channels]
    if len({len(p) for p in picked}) != 1:
        raise DataError(f"{path}: channels {', '.join(channels)} have {', '.join(str(len(p)) for p in picked)} samples; "
                        "every channel needs the same number")
    return np.stack([values[:, p] for p in picked], axis=2)


def read_arff(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Numeric attributes, one channel; the last one is the label when it is nominal or named label, target or
    class (ECG5000's files)."""
    import arff

    parsed = arff.loads(path.read_text())
    attributes, rows = parsed["attributes"], parsed["data"]
    name, kind = attributes[-1]
    has_label = isinstance(kind, list) or name.lower() in ARFF_LABELS
    table = [[np.nan if x is None else x for x in (row[:-1] if has_label else row)] for row in rows]
    values = np.array(table, dtype=np.float64)
    return values, np.array([row[-1] for row in rows], dtype=object) if has_label else None


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` of shape (n, T) or (n, T, F) and ``y`` of shape (n,) where the file has one."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: not a readable .npz ({one_line(err)}); save it with numpy.savez") from None
    with npz:
        if "X" not in npz.files:
            raise DataError(f"{path}: holds {', '.join(npz.files) or 'nothing'}, no array X; save X (n, T) "
                            "or (n, T, F) and y (n,)")
        return npz["X"].astype(np.float64), npz["y"] if "y" in npz.files else None
