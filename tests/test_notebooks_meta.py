"""Hygiene of the committed notebooks, with or without outputs (no kernel is started).

Checks what makes notebooks reviewable and re-executable by ``pytest --nbval``: one
``parameters`` cell and no injected one, the python3 kernel, execution counts 1..n, no
run metadata or widget state, small images and files, no absolute paths in outputs,
short cells, and imports only from ecgnb (plus the standard library, pandas, numpy and
matplotlib) so the logic stays in the package where tests reach it.
``ECGNB_NOTEBOOK_DIR`` points the checks at another folder (e.g. a report's notebooks).
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from ecgnb import runs

NOTEBOOK_DIR = Path(os.environ.get("ECGNB_NOTEBOOK_DIR") or Path(__file__).resolve().parents[1] / "notebooks")
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
ALLOWED_IMPORTS = {"ecgnb", "pandas", "numpy", "matplotlib"} | set(sys.stdlib_module_names)
MAX_CELL_LINES = 20
MAX_IMAGE_BYTES = 200 * 1024
MAX_FILE_BYTES = 1024 * 1024
ABSOLUTE_PATH = re.compile(r"/(work|home|Users|root)/")
PARAMETERS = {nb: ["run_dir", "params_file", "overrides"] for nb in ("01_explore", runs.RECORDING_NOTEBOOK)}  # a run's first; the others: only run_dir


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def tagged(nb, tag: str) -> list:
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def python_source(cell) -> str:
    """Cell source without IPython magics and shell escapes, so ast can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_every_notebook_of_a_run_is_committed():
    if "ECGNB_NOTEBOOK_DIR" in os.environ:
        pytest.skip("checking another folder")
    assert [p.stem for p in NOTEBOOKS] == [*runs.NOTEBOOKS, runs.RECORDING_NOTEBOOK]


def test_valid_with_cell_ids(notebook):
    path, nb = notebook
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5), f"{path.name}: cell ids need nbformat 4.5"
    assert all(c.get("id") for c in nb.cells)


def test_one_parameters_cell_and_no_injected_one(notebook):
    path, nb = notebook
    params = tagged(nb, "parameters")
    assert len(params) == 1, f"{path.name}: {len(params)} cells tagged 'parameters', need exactly 1"
    assert params[0].cell_type == "code"
    assert not tagged(nb, "injected-parameters"), f"{path.name}: papermill's injected cell is committed"


def test_parameters_are_plain_values_with_comments(notebook):
    path, nb = notebook
    cell = tagged(nb, "parameters")[0]
    lines = [line for line in cell.source.splitlines() if line.strip()]
    names = [node.targets[0].id for node in ast.parse(cell.source).body]
    assert names == PARAMETERS.get(path.stem, ["run_dir"])
    assert all(re.search(r"\S\s+#\s*\S", line) for line in lines), f"{path.name}: each parameter needs a comment"


def test_kernel_is_python3(notebook):
    path, nb = notebook
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"


def test_execution_counts_in_order(notebook):
    path, nb = notebook
    counts = [c.execution_count for c in code_cells(nb)]
    if all(n is None for n in counts):
        assert not any(c.outputs for c in code_cells(nb)), f"{path.name}: outputs without execution counts"
    else:
        assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}, need 1..n"


def test_no_run_metadata_or_widget_state(notebook):
    path, nb = notebook
    assert "widgets" not in nb.metadata, f"{path.name}: widget state in metadata"
    for i, cell in enumerate(nb.cells):
        noisy = {"execution", "papermill"} & set(cell.metadata)
        assert not noisy, f"{path.name} cell {i}: per-cell metadata {sorted(noisy)} (run ecgnb.runner.clean.clean_notebook)"


def test_no_errors_and_small_images(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        for out in cell.outputs:
            assert out.output_type != "error", f"{path.name} code cell {i}: {out.get('ename')}"
            for mime, value in out.get("data", {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml":
                    size = len(base64.b64decode(value))
                    assert size < MAX_IMAGE_BYTES, f"{path.name} code cell {i}: {mime} of {size:,} bytes"


def test_file_is_small(notebook):
    path, _ = notebook
    assert path.stat().st_size < MAX_FILE_BYTES


def test_no_absolute_paths_in_outputs(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        text = json.dumps(cell.outputs)
        match = ABSOLUTE_PATH.search(text)
        assert not match, f"{path.name} code cell {i}: absolute path in output near {text[match.start():][:60]!r}"
    assert not ABSOLUTE_PATH.search(json.dumps(nb.metadata)), f"{path.name}: absolute path in notebook metadata"


def test_imports_only_from_ecgnb_and_display_libraries(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        for node in ast.walk(ast.parse(python_source(cell))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name} code cell {i}: relative import"
                modules = [node.module]
            else:
                continue
            bad = [m for m in modules if m.split(".")[0] not in ALLOWED_IMPORTS]
            assert not bad, f"{path.name} code cell {i}: imports {bad}; put that logic in the ecgnb package"


def test_code_cells_are_short(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        n = len(cell.source.splitlines())
        assert n <= MAX_CELL_LINES, f"{path.name} code cell {i}: {n} lines (at most {MAX_CELL_LINES})"


KNOWN_TAGS = {"parameters", "nbval-ignore-output"}


def test_outputs_nbval_skips_are_tagged_not_marked_in_the_code(notebook):
    """Results cells carry the tag nbval-ignore-output (04_evaluate step 8 checks their values against
    the reference run); learners see no test markers in the code."""
    path, nb = notebook
    for i, cell in enumerate(nb.cells):
        assert "NBVAL_" not in cell.source, f"{path.name} cell {i}: use the tag nbval-ignore-output, not a comment"
        unknown = set(cell.metadata.get("tags", [])) - KNOWN_TAGS
        assert not unknown, f"{path.name} cell {i}: unknown tags {sorted(unknown)}"
