"""Check and read ECG5000's two release files, TRAIN and TEST (ARFF, or the UCR 2018 TSV files).

ARFF files must have the release's SHA-256; TSV files, which have no fixed bytes, the release's label counts
and fingerprint. A damaged file is scanned row by row, so the message names the row and column at fault.
The files are parsed by the readers every beat file goes through (``ecgnb.beat_files``).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Iterable

import numpy as np

from ecgnb import beat_files
from ecgnb.data import (DATA_FINGERPRINT, ENV_VAR, LABEL_COUNTS, ROWS, SEQ_LEN, SHA256, DataError, cache_dir,
                        fingerprint_of)
from ecgnb.errors import one_line


def verify_pair(pair: tuple[Path, Path], where: str | None = None) -> None:
    """ARFF: exact SHA-256 (a bad file is parsed first, for a precise message). TSV: the parsed facts."""
    if pair[0].suffix == ".tsv":
        read_pair(pair, where)
        return
    for path in pair:
        digest = _sha256(path)
        if digest != SHA256[path.name]:
            read_pair(pair, where)
            raise DataError(f"{_label(path, where)}: sha256 {digest[:12]}… expected {SHA256[path.name][:12]}…: "
                            f"the file is not the ECG5000 release; delete it or point {ENV_VAR} at a good copy")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _label(path: Path, where: str | None) -> str:
    """How messages name a file: the real path, or ``source: member`` for staged copies."""
    return f"{where}: {path.name}" if where else str(path)


def read_pair(pair: tuple[Path, Path], where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Values (5000, 140) float32 and targets (5000,) int64, TRAIN then TEST, checked against the facts."""
    parts = [_read_file(path, _label(path, where)) for path in pair]
    values = np.concatenate([v for v, _ in parts])
    targets = np.concatenate([t for _, t in parts])
    counts = {int(k): int(n) for k, n in zip(*np.unique(targets, return_counts=True))}
    names = " + ".join(_label(p, where) for p in pair)
    if counts != LABEL_COUNTS:
        raise DataError(f"{names}: label counts {counts}, expected {LABEL_COUNTS}: not the ECG5000 release")
    if (got := fingerprint_of(values, targets)) != DATA_FINGERPRINT:
        raise DataError(f"{names}: values differ from the ECG5000 release "
                        f"(fingerprint {got}, expected {DATA_FINGERPRINT}); get a good copy")
    return values, targets


def _read_file(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse one ARFF or TSV file; a problem is a DataError naming the row and column."""
    if path.stat().st_size == 0:
        raise _damaged(path, name, "empty file")
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as err:
        raise _damaged(path, name, f"not a text file (byte {err.start} is not ASCII)") from None
    is_tsv = path.suffix == ".tsv"
    try:
        values, labels = (beat_files.read_table if is_tsv else beat_files.read_arff)(path)
        if labels is None:
            raise ValueError("no labels")
        targets = np.asarray(labels, dtype=np.float64)
    except Exception as err:  # noqa: BLE001 - the row scan below names the precise problem
        _diagnose(path, name, text, is_tsv)
        raise _damaged(path, name, f"cannot be parsed ({type(err).__name__}: {one_line(err)[:120]})") from None
    bad = values.shape[1:] != (SEQ_LEN,) or not np.isfinite(values).all() \
        or not np.isin(targets, list(LABEL_COUNTS)).all()
    if len(values) and bad:
        _diagnose(path, name, text, is_tsv)
        raise _damaged(path, name, f"rows are not {SEQ_LEN} finite numbers and a label 1..5")
    part = path.stem.removeprefix("ECG5000_")
    if len(values) != ROWS[part]:
        raise _damaged(path, name, f"{len(values)} rows, expected {ROWS[part]}: the file is truncated or not ECG5000")
    return values.astype(np.float32), targets.astype(np.int64)


def _data_lines(text: str, is_tsv: bool) -> Iterable[tuple[int, str]]:
    """(line number, line) of each data row: every non-empty line of a TSV, lines after @data in ARFF."""
    in_data = is_tsv
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if in_data and stripped and not stripped.startswith("%"):
            yield number, stripped
        elif stripped.lower().startswith("@data"):
            in_data = True


def _diagnose(path: Path, name: str, text: str, is_tsv: bool) -> None:
    """Raise a DataError for the first bad row (field count, number, label); return if none is found."""
    rows = list(_data_lines(text, is_tsv))
    for row, (line_no, line) in enumerate(rows, 1):
        problem = _row_problem(line.split("\t" if is_tsv else ","), is_tsv)
        if problem and row == len(rows) and not text.endswith("\n"):
            raise _damaged(path, name, f"the file is truncated: it ends inside row {row} (line {line_no})")
        if problem:
            raise _damaged(path, name, f"row {row} (line {line_no}) {problem}")


def _row_problem(cells: list[str], is_tsv: bool) -> str | None:
    """What is wrong with one data row, or None."""
    if len(cells) != SEQ_LEN + 1:
        return f"has {len(cells) - 1} values, expected {SEQ_LEN} + label"
    label, numbers = (cells[0], cells[1:]) if is_tsv else (cells[-1], cells[:-1])
    if label.strip() not in {str(k) for k in LABEL_COUNTS} | {f"{k}.0" for k in LABEL_COUNTS}:
        return f"has label {label.strip()!r}, expected 1..5"
    for col, field in enumerate(numbers, 1):
        if not _is_finite(field):
            return f"column {col} is {field.strip()!r}, expected a finite number"
    return None


def _is_finite(field: str) -> bool:
    try:
        return math.isfinite(float(field))
    except ValueError:
        return False


def _damaged(path: Path, name: str, problem: str) -> DataError:
    fix = f"re-download it (delete {cache_dir()})" if path.parent == cache_dir() else "get a good copy"
    return DataError(f"{name}: {problem}; the file is damaged — {fix}")
