"""A continuous ECG recording read from a file: one lead, its sampling rate, and the reference beats.

    read("data/100")                 # a WFDB record: 100.hea + its signal file (+ 100.atr when present)
    read("night.edf", lead="ECG1")   # EDF, through wfdb
    read("export.csv", fs=250)       # samples, one column per lead (a header row names them)
    read("signal.npy", fs=500)       # samples (n,) or (n, leads)

Every problem a user can fix is a one-line :class:`RecordingError` naming the file and what to do:
a missing signal file, a header that promises more samples than its file holds, a flat or saturated
lead, a rate too low to find beats, a recording too short for a few beats.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnb.config import SAMPLE_SUFFIXES
from ecgnb.errors import EcgnbError

MIN_FS = 100.0  # Hz: XQRS still finds every beat of MIT-BIH record 100 resampled to 100 Hz (docs/recording.md)
MIN_SECONDS = 10.0  # shorter recordings hold too few beats for the recent RR intervals and robust statistics
FLAT_SHARE = 0.95  # a lead whose samples repeat their predecessor this often carries no ECG
SATURATED_SHARE = 0.01  # a lead pinned at its extreme value this often was clipped by the recorder
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")  # WFDB annotation codes that mark a beat (the rest: rhythm, noise)
# Bytes per sample of the WFDB signal formats whose size can be checked against the header.
FORMAT_BYTES = {"80": 1.0, "16": 2.0, "61": 2.0, "160": 2.0, "212": 1.5, "24": 3.0, "32": 4.0, "310": 4 / 3,
                "311": 4 / 3}
ANNOTATION = "atr"


class RecordingError(EcgnbError):
    """A recording that cannot be read or holds no usable ECG."""


@dataclass(frozen=True)
class Recording:
    """One lead of a recording, in the file's units, with the reference beats when the record has them."""

    path: str  # as given (a WFDB record: without extension)
    signal: np.ndarray  # (n,) float64
    fs: float  # Hz
    lead: str
    leads: tuple[str, ...]  # every lead of the file
    ref_samples: np.ndarray | None = None  # sample index of each reference beat
    ref_symbols: np.ndarray | None = None  # its WFDB symbol (N, A, V, ...)

    @property
    def seconds(self) -> float:
        return len(self.signal) / self.fs


def read(path: str | Path, lead: str | None = None, fs: float | None = None) -> Recording:
    """The recording at ``path`` (WFDB record name, .edf, .csv or .npy), lead ``lead`` (default: the first);
    ``fs`` is needed for CSV/NPY and refused for the others (their header says it)."""
    path = Path(path)
    if path.suffix.lower() in SAMPLE_SUFFIXES:
        if fs is None:
            raise RecordingError(f"{path}: samples without a sampling rate; pass it with -p fs HZ")
        names, samples = _read_samples(path)
        ref = (None, None)
    else:
        if fs is not None:
            raise RecordingError(f"{path}: a {'EDF' if _is_edf(path) else 'WFDB'} file names its own sampling "
                                 "rate; leave fs null (-p fs is for CSV/NPY samples)")
        names, samples, fs = _read_wfdb(path)
        ref = _read_reference(path)
    index = _lead_index(path, names, lead)
    rec = Recording(str(path), samples[:, index].astype(np.float64), float(fs), names[index], tuple(names), *ref)
    check(rec)
    return rec


def _is_edf(path: Path) -> bool:
    return path.suffix.lower() == ".edf"


def _read_wfdb(path: Path) -> tuple[list[str], np.ndarray, float]:
    import wfdb
    from wfdb.io.convert.edf import read_edf

    if _is_edf(path):
        if not path.is_file():
            raise RecordingError(f"{path}: not found; pass an existing .edf file")
    else:
        _check_wfdb_files(path)
    try:
        record = read_edf(str(path)) if _is_edf(path) else wfdb.rdrecord(str(path), physical=True)
    except Exception as err:  # noqa: BLE001 - wfdb raises many kinds; each gets the same advice
        raise RecordingError(f"{path}: not a readable {'EDF file' if _is_edf(path) else 'WFDB record'} "
                             f"({type(err).__name__}: {' '.join(str(err).split())}); check the files") from None
    return [str(n) for n in record.sig_name], np.asarray(record.p_signal, dtype=np.float64), float(record.fs)


def _check_wfdb_files(path: Path) -> None:
    """The header exists, names signal files that exist, and each holds as many samples as it promises."""
    import wfdb

    header = path.with_name(path.name + ".hea")
    if not header.is_file():
        raise RecordingError(f"{path}: no header {header.name}; pass a WFDB record name without extension "
                             "(100 for 100.hea and 100.dat), or a .edf, .csv or .npy file")
    try:
        head = wfdb.rdheader(str(path))
    except Exception as err:  # noqa: BLE001
        raise RecordingError(f"{header}: not a readable WFDB header ({' '.join(str(err).split())}); "
                             "check the file") from None
    per_file: dict[str, list[str]] = {}
    for name, fmt in zip(head.file_name or [], head.fmt or []):
        per_file.setdefault(name, []).append(str(fmt))
    for name, fmts in per_file.items():
        data = path.with_name(name)
        if not data.is_file():
            raise RecordingError(f"{path}: the signal file {name} that {header.name} names is missing; "
                                 "put it beside the header")
        if all(f in FORMAT_BYTES for f in fmts) and head.sig_len:
            needed = int(np.ceil(head.sig_len * sum(FORMAT_BYTES[f] for f in fmts)))
            if data.stat().st_size < needed:
                raise RecordingError(f"{data}: holds {data.stat().st_size:,} bytes but {header.name} promises "
                                     f"{head.sig_len:,} samples per lead ({needed:,} bytes); restore the file "
                                     "or correct the sample count in the header")


def _read_reference(path: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The beat annotations of ``path.atr`` when present (rhythm and noise marks left out)."""
    import wfdb

    if _is_edf(path) or not path.with_name(f"{path.name}.{ANNOTATION}").is_file():
        return None, None
    try:
        ann = wfdb.rdann(str(path), ANNOTATION)
    except Exception as err:  # noqa: BLE001
        raise RecordingError(f"{path}.{ANNOTATION}: not readable annotations ({type(err).__name__}); "
                             "restore or remove the file") from None
    symbols = np.asarray(ann.symbol)
    is_beat = np.isin(symbols, list(BEAT_SYMBOLS))
    return np.asarray(ann.sample)[is_beat], symbols[is_beat]


def _read_samples(path: Path) -> tuple[list[str], np.ndarray]:
    """A CSV (a header row of lead names, or none) or NPY file of samples: (names, (n, leads))."""
    if not path.is_file():
        raise RecordingError(f"{path}: not found; pass an existing file")
    try:
        if path.suffix.lower() == ".npy":
            values = np.load(path, allow_pickle=False)
            names = None
        else:
            import pandas as pd

            first = path.open().readline()
            has_header = any(c.strip() and not _is_number(c) for c in first.split(","))
            frame = pd.read_csv(path, header=0 if has_header else None)
            names = [str(c) for c in frame.columns] if has_header else None
            values = frame.to_numpy(dtype=np.float64)
    except Exception as err:  # noqa: BLE001
        raise RecordingError(f"{path}: not a table of numbers ({type(err).__name__}); write one column of "
                             "samples per lead, with an optional header row of lead names") from None
    values = values[:, None] if values.ndim == 1 else values
    if values.ndim != 2 or not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
        raise RecordingError(f"{path}: samples must be finite numbers, (n,) or (n, leads), got {values.dtype} "
                             f"{values.shape}; remove gaps and text")
    return names or [str(i) for i in range(values.shape[1])], values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lead_index(path: Path, names: list[str], lead: str | None) -> int:
    if lead is None:
        return 0
    if lead not in names:
        raise RecordingError(f"{path}: no lead {lead!r}; its leads are {', '.join(names)}; pass one of them "
                             "(-p lead or --lead)")
    return names.index(lead)


def check(rec: Recording) -> None:
    """A recording beats can be found in: rate, length, a lead that moves and is not clipped."""
    where = f"{rec.path} (lead {rec.lead})"
    if rec.fs < MIN_FS:
        raise RecordingError(f"{where}: sampled at {rec.fs:g} Hz, too slow to find beats; pass a recording "
                             f"sampled at {MIN_FS:g} Hz or more (or correct -p fs)")
    if rec.seconds < MIN_SECONDS:
        raise RecordingError(f"{where}: {rec.seconds:.1f} s long, too short for a few beats; pass at least "
                             f"{MIN_SECONDS:g} s")
    x = rec.signal
    if not np.isfinite(x).all():
        raise RecordingError(f"{where}: {int((~np.isfinite(x)).sum())} samples are missing (NaN); "
                             "choose another lead or fill the gaps")
    if np.ptp(x) == 0 or np.mean(np.diff(x) == 0) > FLAT_SHARE:
        raise RecordingError(f"{where}: the lead is flat (no ECG); check the electrode or choose another lead")
    pinned = max(np.mean(x == x.max()), np.mean(x == x.min()))
    if pinned > SATURATED_SHARE:
        raise RecordingError(f"{where}: saturated ({pinned:.0%} of the samples at the recorder's limit); "
                             "choose another lead or record with less gain")
