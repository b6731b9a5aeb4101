"""The committed notebooks' prose quotes their outputs faithfully, and teaches without the machinery.

Convention: a number the prose quotes from an output is written as a code span holding the number
alone (`` `0.997` ``, `` `2,919` ``, `` `98 %` ``); it must appear in the text output of a code cell above
it in the same notebook (thousands commas aside). Nothing is executed: the check reads the committed
notebooks, so a refresh that moves a result fails here until the prose says the new value.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest

from ecgnb import runs

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
QUOTED = re.compile(r"`(-?\d[\d,]*(?:\.\d+)?)\s?%?`")  # a code span that is one number
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
MACHINERY = re.compile(r"nbval|toleran|cache|thread|rounding", re.IGNORECASE)  # docs/testing.md, docs/design.md


def output_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts.append(data.get("text/plain", "") + data.get("text/html", ""))
    return "\n".join(parts)


def misquotes(nb: nbformat.NotebookNode) -> list[str]:
    """Each quoted number with no equal number in the outputs above it: 'cell i: `n`'."""
    seen: set[str] = set()
    wrong = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            seen |= {n.replace(",", "") for n in NUMBER.findall(output_text(cell))}
        else:
            wrong += [f"cell {i}: `{q}`" for q in QUOTED.findall(cell.source) if q.replace(",", "") not in seen]
    return wrong


@pytest.mark.parametrize("name", runs.NOTEBOOKS)
def test_every_number_the_prose_quotes_is_an_output_above_it(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert misquotes(nb) == [], f"{name}: quoted numbers that no output above shows (re-read the outputs)"


def test_the_notebooks_quote_outputs():
    quotes = sum(len(QUOTED.findall(c.source)) for name in runs.NOTEBOOKS
                 for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells if c.cell_type == "markdown")
    assert quotes >= 5


@pytest.mark.parametrize("name", runs.NOTEBOOKS)
def test_a_mutated_quote_fails(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    quoted = [(i, q) for i, c in enumerate(nb.cells) if c.cell_type == "markdown" for q in QUOTED.findall(c.source)]
    if not quoted:
        pytest.skip(f"{name} quotes no output")
    i, q = quoted[-1]
    mutated = copy.deepcopy(nb)
    wrong = q[:-1] + str((int(q[-1]) + 1) % 10)  # the last digit, one up
    mutated.cells[i].source = mutated.cells[i].source.replace(f"`{q}", f"`{wrong}", 1)
    assert f"cell {i}: `{wrong}`" in misquotes(mutated)


@pytest.mark.parametrize("name", runs.NOTEBOOKS)
def test_the_lesson_leaves_the_machinery_to_the_docs(name):
    """The five notebooks teach anomaly detection; how CI checks them lives in docs/testing.md and docs/design.md."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    found = [f"cell {i}: {m.group()}" for i, c in enumerate(nb.cells)
             for m in MACHINERY.finditer(c.source + output_text(c))]
    assert found == [], name


@pytest.mark.parametrize("name", runs.NOTEBOOKS)
def test_each_notebook_teaches_with_objectives_exercises_and_a_recap(name):
    md = [c.source for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells if c.cell_type == "markdown"]
    assert "**You will learn:**" in md[0] and "**Time:**" in md[0]
    assert sum("predict, then check" in s and "<details>" in s for s in md) >= 2
    assert md[-1].startswith("## Recap")
