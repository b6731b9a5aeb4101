"""Where runs live: the repository (notebooks and params), the reports folder and the run folders in it."""

from __future__ import annotations

from pathlib import Path

from ecgnb import runs
from ecgnb.errors import EcgnbError


def repo_root() -> Path:
    """The folder holding ``notebooks/`` and ``params/``: next to the package, else the cwd or a parent."""
    here = Path(__file__).resolve().parents[2]  # ecgnb/runner/places.py → the checkout
    cwd = Path.cwd().resolve()
    for candidate in (here, cwd, *cwd.parents):
        if (candidate / "notebooks").is_dir() and (candidate / "params").is_dir():
            return candidate
    raise EcgnbError(f"cannot find the ecgnb repository (a folder holding notebooks/ and params/) next to {here} "
                     "or above the current folder; run from a checkout of ecgnb")


def repo_root_or_none() -> Path | None:
    """:func:`repo_root`, or None where there is none."""
    try:
        return repo_root()
    except EcgnbError:
        return None


def reports_root(reports: str | None, root: Path) -> Path:
    """The folder of run folders: ``--reports``, else ``reports/`` of the repository."""
    return Path(reports).resolve() if reports else root / "reports"


def find_run(name: str, reports_dir: Path) -> Path:
    """A run by name under the reports folder, or a run folder's path."""
    for candidate in (reports_dir / name, Path(name)):
        if (candidate / runs.STATUS).is_file() or (candidate / runs.PARAMS).is_file():
            return candidate
    raise EcgnbError(f"run {name!r}: no run folder {reports_dir / name} (with run.json or params.yaml); "
                     "see `ecgnb index` for the runs there")


def run_folders(reports_dir: str | Path) -> list[Path]:
    """Every run folder under ``reports_dir``: a visible folder with run.json or params.yaml."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        return []
    return [p for p in sorted(reports_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".") and ((p / runs.STATUS).is_file() or (p / runs.PARAMS).is_file())]
