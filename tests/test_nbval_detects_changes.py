"""nbval really compares the committed outputs: a copy whose stored numbers were changed fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_explore.ipynb"  # the cheapest notebook: data and split, no training


def copy_project(tmp_path: Path) -> Path:
    """notebooks/01_explore.ipynb and params/ laid out as in the repo (its paths are relative)."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK)
    shutil.copytree(REPO / "params", tmp_path / "params")
    return tmp_path / "notebooks" / NOTEBOOK


def nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                           "--nbval-current-env", "--nbval-sanitize-with", str(REPO / "tests/nbval_sanitize.cfg"),
                           str(path)], capture_output=True, text=True, cwd=path.parent)


def tamper(path: Path, old: str, new: str) -> None:
    """Change ``old`` to ``new`` in the stored text outputs of a checked cell."""
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "NBVAL_IGNORE_OUTPUT" in cell.source:
            continue
        for out in cell.get("outputs", []):
            for key in ("text",):
                if old in out.get(key, ""):
                    out[key] = out[key].replace(old, new)
                    changed += 1
            for mime in ("text/plain", "text/html"):
                if old in out.get("data", {}).get(mime, ""):
                    out["data"][mime] = out["data"][mime].replace(old, new)
                    changed += 1
    assert changed, f"{old!r} not found in a checked output of {path.name}"
    nbformat.write(nb, path)


@pytest.mark.slow
def test_unchanged_copy_passes_and_a_changed_count_fails(tmp_path):
    path = copy_project(tmp_path)
    ok = nbval(path)
    assert ok.returncode == 0, ok.stdout[-2000:]
    tamper(path, "2481", "2482")  # the number of training normals in the split table
    bad = nbval(path)
    assert bad.returncode == 1, bad.stdout[-2000:]
    assert "2482" in bad.stdout and "2481" in bad.stdout  # nbval shows expected vs got
