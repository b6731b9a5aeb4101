"""The one cache of ``ecgnb run``: executed notebooks kept by their inputs, so that a re-render executes only
the notebooks whose inputs changed.

A notebook's key hashes everything its outputs can depend on: its own source and papermill
parameters, the parameters it uses (every one but :data:`IGNORES`), the run-folder files it reads
(:data:`READS`), the data the kernels are handed, the package's code, and the torch version, the
CPU, its core count and the kernel and thread settings (:func:`machine_settings`). After a notebook
runs, its executed copy, its HTML and every file it wrote go into the cache under that key; a later
run whose notebook has the same key gets those files copied instead of running the notebook.

A run that changes only the threshold rule thus re-executes 03_threshold and 04_evaluate and copies
01_explore, 02_train (its trained model included) and 05_visualize. The cache is ``$ECGNB_RUN_CACHE``,
else ``runs/`` in the data cache; ``ecgnb run --no-cache`` executes every notebook, and tests and
JupyterLab never see it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

import ecgnb
from ecgnb import atomic, data, runs
from ecgnb.config import DATA_KEYS, THRESHOLD_KEYS, Config

ENV_VAR = "ECGNB_RUN_CACHE"  # where executed notebooks are kept (else runs/ in the data cache)
PACKAGE = Path(ecgnb.__file__).resolve().parent  # the library and the runner: what a notebook's outputs come from
ROUNDING_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")  # kernel choices that change the rounding
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# The run-folder files each notebook reads (params.yaml aside: the parameters enter the key as values).
READS: dict[str, tuple[str, ...]] = {
    "01_explore": (),
    "02_train": (runs.DATA_INFO, runs.SPLIT),
    "03_threshold": (runs.LOSSES,),
    "04_evaluate": (runs.DATA_INFO, runs.SPLIT, runs.LOSSES, runs.THRESHOLD, runs.HISTORY),
    "05_visualize": (runs.DATA_INFO, runs.SPLIT, runs.CHECKPOINT),
    runs.RECORDING_NOTEBOOK: (),  # the recording itself enters the key as data (recording_digest)
}
# Files beside the notebooks that one reads (04_evaluate compares the run with the reference run).
BESIDE: dict[str, tuple[str, ...]] = {"04_evaluate": ("reference.json",)}
# The parameters a notebook's outputs cannot depend on (it neither shows nor uses them).
IGNORES: dict[str, tuple[str, ...]] = {
    "01_explore": tuple(f.name for f in fields(Config) if f.name not in DATA_KEYS),
    "02_train": THRESHOLD_KEYS,
    "05_visualize": THRESHOLD_KEYS,
}
NOT_OUTPUTS = (runs.STATUS, runs.PROGRESS, "index.html")  # the pipeline's own files, never a notebook's
ENTRY_INFO = "entry.json"


def folder() -> Path:
    """Where executed notebooks are kept: ``$ECGNB_RUN_CACHE``, else ``runs/`` in the data cache."""
    return Path(os.environ.get(ENV_VAR) or data.cache_dir() / "runs")


def machine_settings() -> str:
    """The torch version, the CPU's model and instruction-set flags, the core count and the variables that
    choose kernels and threads: two processes with the same settings round the same way. Told without
    importing torch, which a run that copies every notebook never loads."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = [line for line in lines if line.startswith(("model name", "flags"))][:2] or [platform.processor()]
    return json.dumps({"torch": metadata.version("torch"), "cpu": cpu, "cores": os.cpu_count(),
                       **{k: os.environ.get(k) for k in (*ROUNDING_ENV, *THREAD_ENV)}}, sort_keys=True)


def key(notebook: Path, parameters: Mapping[str, Any], cfg: Config, run_dir: Path) -> str:
    """Hex digest of every input of ``notebook`` run in ``run_dir`` with ``parameters`` and ``cfg``."""
    h = hashlib.sha256()
    h.update(notebook.read_bytes())
    h.update(json.dumps(dict(parameters), sort_keys=True).encode())
    ignored = IGNORES.get(notebook.stem, ())
    h.update(json.dumps({k: v for k, v in cfg.to_dict().items() if k not in ignored}, sort_keys=True).encode())
    for name in READS.get(notebook.stem, tuple(sorted(p.name for p in run_dir.iterdir() if p.is_file()))):
        h.update(name.encode() + b"\0" + file_digest(run_dir / name).encode())
    for name in BESIDE.get(notebook.stem, ()):
        h.update(name.encode() + b"\0" + file_digest(notebook.parent / name).encode())
    if notebook.stem == "01_explore":  # only 01 reads the data itself; the rest read its split
        h.update(data_digest(os.environ.get(data.ENV_VAR)).encode())
    if notebook.stem == runs.RECORDING_NOTEBOOK and cfg.recording:
        h.update(recording_digest(run_dir / cfg.recording).encode())
    for source in sorted(PACKAGE.rglob("*.py")):
        h.update(source.read_bytes())
    h.update(machine_settings().encode())
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """A file's content hash; an .npz by its arrays (the zip inside records when it was written)."""
    if not path.is_file():
        return "missing"
    if path.suffix != ".npz":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    h = hashlib.sha256()
    with np.load(path) as arrays:
        for name in sorted(arrays.files):
            value = arrays[name]
            h.update(f"{name} {value.dtype} {value.shape}".encode() + np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def data_digest(location: str | None) -> str:
    """The data the kernels are handed: the bytes of the file, or of every file of the folder (none: the
    verified cache or package copy, checked by its fingerprint in 01_explore)."""
    if not location:
        return "default"
    path = Path(location)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(file_digest(p).encode() for p in files)).hexdigest()


def recording_digest(path: Path) -> str:
    """The bytes of a recording: its file, or every file of a WFDB record (``100`` → ``100.hea``, ``100.dat``, …)."""
    files = [path] if path.is_file() else sorted(path.parent.glob(f"{path.name}.*"))
    return hashlib.sha256(b"".join(file_digest(p).encode() for p in files)).hexdigest()


def outputs(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file of the run folder with its size and modification time (to see what a notebook wrote)."""
    return {str(p.relative_to(run_dir)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in run_dir.rglob("*") if p.is_file() and p.name not in NOT_OUTPUTS}


def store(digest: str, run_dir: Path, before: Mapping[str, tuple[int, int]]) -> None:
    """Keep what the notebook wrote (its executed copy and HTML included) under ``digest``, whole or not at all."""
    written = sorted(name for name, stamp in outputs(run_dir).items() if before.get(name) != stamp)
    where = folder()
    where.mkdir(parents=True, exist_ok=True)
    try:
        with atomic.replacing(where / digest) as staging:
            for name in written:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(run_dir / name, staging / name)
            runs.write_json(staging / ENTRY_INFO, {"files": written})
    except OSError:  # another run stored the same key first, or the disk is full: the cache is only a shortcut
        pass


def restore(digest: str, run_dir: Path) -> bool:
    """Copy the files kept under ``digest`` into ``run_dir``; False when there is no complete entry."""
    entry = folder() / digest
    try:
        files = json.loads((entry / ENTRY_INFO).read_text())["files"]
        for name in files:
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry / name, run_dir / name)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True
