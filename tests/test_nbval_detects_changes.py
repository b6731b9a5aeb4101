"""nbval really compares the committed outputs: a copy whose stored numbers were changed fails."""

from __future__ import annotations

import re
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


def nbval(*paths: Path) -> subprocess.CompletedProcess:
    """One pytest session over ``paths`` (one start-up), every outcome listed (``-rA``)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--nbval",
                           "--nbval-current-env", "--nbval-sanitize-with", str(REPO / "tests/nbval_sanitize.cfg"),
                           "--rootdir", str(paths[0].parent), *map(str, paths)], capture_output=True, text=True, cwd=paths[0].parent)


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
    changed = shutil.copy(path, path.with_name("changed.ipynb"))
    tamper(changed, "2481", "2482")  # the number of training normals in the split table
    done = nbval(path, changed)
    outcomes = re.findall(r"^(PASSED|FAILED) (\S+?)::Cell (\d+)", done.stdout, re.M)
    cells = sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
    assert done.returncode == 1 and len(outcomes) == 2 * cells, done.stdout[-2000:]
    assert {(o, cell) for o, name, cell in outcomes if name == path.name} == {("PASSED", str(k)) for k in range(cells)}
    failed = [int(cell) for o, name, cell in outcomes if name == "changed.ipynb" and o == "FAILED"]
    assert len(failed) == 1, done.stdout[-2000:]  # only the cell with the split table
    assert "2482" in done.stdout and "2481" in done.stdout  # nbval shows expected vs got
