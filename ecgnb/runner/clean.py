"""Executed notebooks made fit to keep: run noise, widget state and this machine's paths taken out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from ecgnb import atomic
from ecgnb.runner.places import repo_root_or_none


_NOISY_NOTEBOOK_KEYS = ("start_time", "end_time", "duration", "input_path", "output_path", "environment_variables")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean_notebook(path: str | Path, committed: bool = False, run_dir: str | Path | None = None) -> None:
    """Strip run noise and this machine's paths from an executed notebook in place (atomically).

    Removes per-cell ``metadata.papermill`` and ``metadata.execution`` (timings), the
    notebook's papermill timings and absolute paths (its ``parameters`` stay, unless
    ``committed``: a notebook kept in git drops papermill's record entirely), widget state
    and widget views that have another representation. In outputs (tracebacks, warnings) the
    paths of :func:`machine_paths` become short names. Outputs, execution counts and
    papermill's error cells stay.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    if committed:
        nb.metadata.pop("papermill", None)
    for key in _NOISY_NOTEBOOK_KEYS:
        nb.metadata.get("papermill", {}).pop(key, None)
    aliases = machine_paths(run_dir if run_dir is not None else path.parent)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and len(data) > 1:
                del data[WIDGET_VIEW]
            _replace_paths(output, aliases)
    atomic.write_text(path, nbformat.writes(nb) + "\n")


def machine_paths(run_dir: str | Path) -> list[tuple[str, str]]:
    """Absolute paths of this machine that an output may print, longest first, each with its short name:
    the run folder ``.``, the repository ``<ecgnb>``, the Python installation ``<python>``, the home folder ``~``.
    """
    named = [(Path(run_dir).resolve(), "."), (repo_root_or_none(), "<ecgnb>"), (Path(sys.prefix), "<python>"),
             (Path(sys.base_prefix), "<python>"), (Path.home(), "~")]
    pairs = {str(p): name for p, name in reversed(named) if p is not None and len(Path(p).parts) > 1}
    return sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)


def hide_paths(text: str, aliases: Sequence[tuple[str, str]]) -> str:
    """``text`` with each path of ``aliases`` (see :func:`machine_paths`) replaced by its short name."""
    for long, short in aliases:
        text = text.replace(long, short)
    return text


def _replace_paths(output: Any, aliases: Sequence[tuple[str, str]]) -> None:
    """Replace each path by its name in an output's text, data and traceback (in place)."""
    def scrub(text: str) -> str:
        return hide_paths(text, aliases)

    if isinstance(output.get("text"), str):
        output["text"] = scrub(output["text"])
    if "traceback" in output:
        output["traceback"] = [scrub(line) for line in output["traceback"]]
    if "evalue" in output:
        output["evalue"] = scrub(output["evalue"])
    for mime, value in output.get("data", {}).items():
        if isinstance(value, str) and mime.startswith("text/"):
            output["data"][mime] = scrub(value)
