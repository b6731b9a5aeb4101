"""The two rooms: the library (``ecgnb/``, what the notebooks import) never imports the runner (``ecgnb/runner/``,
what renders and serves them); no import circle among the modules, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ecgnb"


def module_name(path: Path) -> str:
    """``detector`` for ecgnb/detector.py, ``runner.cli`` for ecgnb/runner/cli.py."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The ecgnb modules that ``path`` imports anywhere: ``import ecgnb.x``, ``from ecgnb import x``,
    ``from ecgnb.x import y``, ``from ecgnb.runner import z``, at module level, in functions and under
    ``if TYPE_CHECKING``; named as :func:`module_name` names them."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")[1:]
            found |= {".".join(parts[:i]) for i in (1, 2) if ".".join(parts[:i]) in modules}
    return found - {module_name(path) if path.is_relative_to(PACKAGE) else path.stem}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    return {m: imported_modules(path, set(files)) for m, path in sorted(files.items())}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, …, a], or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in graph:
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_find_cycle_names_the_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_walk_sees_every_import_form(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import ecgnb.a\nfrom ecgnb import b\nfrom ecgnb.c import thing\n"
                      "def f():\n    from ecgnb import d\nimport os\n")
    assert imported_modules(source, {"a", "b", "c", "d", "e"}) == {"a", "b", "c", "d"}


def test_the_walk_names_runner_modules_by_their_room(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from ecgnb.runner import cli, pages\nfrom ecgnb.runner.cache import key\nimport ecgnb.runner\n")
    assert imported_modules(source, {"runner.cli", "runner.pages", "runner.cache", "cli"}) == {
        "runner.cli", "runner.pages", "runner.cache"}


def test_no_import_circle_in_ecgnb():
    graph = import_graph()
    assert graph["runner.cli"] and graph["runner.sweep"] and graph["detector"], "the walk found no imports: check PACKAGE"
    cycle = find_cycle(graph)
    assert cycle is None, f"import circle: {' → '.join(cycle)}"


def test_the_library_never_imports_the_runner():
    """What a notebook imports reaches nothing of the command line, the pages, the caches or the studies
    (the package's own ``__init__`` included)."""
    graph = import_graph()
    library = [m for m in graph if not m.startswith("runner.")]
    assert len(library) >= 15 and len(graph) - len(library) >= 10, sorted(graph)
    leaks = {m: sorted(t for t in graph[m] if t.startswith("runner.")) for m in library}
    assert not {m: t for m, t in leaks.items() if t}, leaks
    assert not {t for t in imported_modules(PACKAGE / "__init__.py", set(graph)) if t.startswith("runner.")}


def test_the_command_line_holds_no_notebook_execution():
    assert "papermill" not in (PACKAGE / "runner" / "cli.py").read_text()
    assert "runner.cli" not in import_graph()["runner.sweep"] | import_graph()["runner.cluster"]


# ---------------------------------------------------------------- what a process pays to start

NOTEBOOKS = PACKAGE.parent / "notebooks"


def loaded_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after running ``code``."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=PACKAGE.parent).stdout
    return {name.split(".")[0] for name in out.split()}


def import_cell(notebook: str) -> str:
    import nbformat

    return next(c.source for c in nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", 4).cells
                if c.cell_type == "code" and "from ecgnb import" in c.source)


def test_the_notebooks_that_read_scores_never_load_torch():
    """03_threshold and 04_evaluate read losses.csv, not the model: their kernels start without torch
    (seconds on a small machine), which is what makes a threshold-only re-render quick."""
    loaded = loaded_after(import_cell("03_threshold") + "\n" + import_cell("04_evaluate"))
    assert "ecgnb" in loaded and "sklearn" in loaded and "torch" not in loaded


def test_a_run_that_copies_every_notebook_loads_neither_torch_nor_papermill():
    code = ("from ecgnb.runner import cache, cli, report\ncache.folder()\n"
            "report.kernel_env(report.places.repo_root(), report.Path('p'), None)")
    loaded = loaded_after(code)
    assert not loaded & {"torch", "papermill", "nbconvert", "jsonschema"}, loaded


def test_notebook_tools_load_without_the_iri_grammar_and_still_validate():
    code = ("from ecgnb.runner import kernels\nkernels.skip_iri_format_check()\nimport nbformat, papermill, nbconvert\n"
            f"nbformat.validate(nbformat.read({str(NOTEBOOKS / '03_threshold.ipynb')!r}, 4))")
    loaded = loaded_after(code)
    assert "papermill" in loaded and "jsonschema" in loaded and "lark" not in loaded
