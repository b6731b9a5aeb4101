"""``make lab``: JupyterLab on working copies of the notebooks, so a lab session never changes the committed ones.

``make lab [PARAMS=params/smoke.yaml]`` copies notebooks 01–05 without their outputs into the run folder
``reports/lab-<profile>/``, and ``06_recording`` into a run folder of its own, ``reports/lab-<profile>/recording/``
(its ``model.pt`` is not 02's), then opens JupyterLab on the first: each copy runs in its own folder
(``run_dir = "."``) with that profile, and autosave writes only there (git-ignored). ``make lab-dev`` opens the
committed notebooks themselves, for editing them (they use ``reports/lab/`` and ``params/default.yaml``, as nbval
does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from ecgnb import atomic, runs
from ecgnb.errors import EcgnbError
from ecgnb.runner import places

PREFIX = "lab-"  # reports/lab-<profile>/: one run folder per profile, so a folder never mixes two
RECORDING_DIR = "recording"  # 06_recording's own run folder inside the profile's: its model.pt is not 02's


def folder_for(params_file: Path, reports_dir: Path) -> Path:
    """The lab's run folder for one profile: ``reports_dir/lab-<profile name>``."""
    return reports_dir / f"{PREFIX}{params_file.stem}"


def copies_in(folder: Path) -> dict[str, Path]:
    """Each notebook's working copy: 01–05 in ``folder``, ``06_recording`` in ``folder/recording/``."""
    copies = {name: folder / f"{name}.ipynb" for name in runs.NOTEBOOKS}
    copies[runs.RECORDING_NOTEBOOK] = folder / RECORDING_DIR / f"{runs.RECORDING_NOTEBOOK}.ipynb"
    return copies


def working_copies(params_file: Path, folder: Path, root: Path) -> list[Path]:
    """Copy each committed notebook to its place in ``folder`` (:func:`copies_in`; outputs cleared, parameters
    pointing at the copy's folder and ``params_file``, a first-cell note saying so); a copy already there is the
    learner's and stays."""
    import nbformat

    if not params_file.is_file():
        raise EcgnbError(f"{params_file}: no such parameters file (see {root / 'params'}/)")
    profile = _shown(params_file, root)
    made = []
    for name, target in copies_in(folder).items():
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shown_folder = _shown(target.parent, root)
        values = {"run_dir": (".", f"this notebook's folder, {shown_folder}/, is the run folder"),
                  "params_file": (os.path.relpath(params_file.resolve(), target.parent.resolve()),
                                  f"the profile, {profile} (make lab PARAMS=... chooses it)")}
        nb = nbformat.read(root / "notebooks" / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = set_parameters(cell.source, values)
        note = (f"> **Working copy** made by `make lab`: profile `{profile}`, run folder `{shown_folder}/` (this "
                f"notebook's folder). Edits and outputs stay here; the committed notebook is `notebooks/{name}.ipynb` "
                "(`make lab-dev` edits it).")
        nb.cells[0].source = f"{note}\n\n{nb.cells[0].source}"
        atomic.write_text(target, nbformat.writes(nb) + "\n")
        made.append(target)
    return made


def set_parameters(source: str, values: dict[str, tuple[str, str]]) -> str:
    """A parameters cell whose ``name = ...`` lines for each name in ``values`` read ``name = "value"  # comment``."""
    lines = []
    for line in source.splitlines():
        name = line.partition(" = ")[0]
        if name in values:
            value, comment = values[name]
            line = f"{name} = {json.dumps(value)}  # {comment}"
        lines.append(line)
    return "\n".join(lines)


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to the repository where it lies inside it."""
    path = path.resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def command(root_dir: Path, *options: str) -> list[str]:
    """``jupyter lab`` from this environment on ``root_dir`` (``--allow-root`` when run as root)."""
    as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [sys.executable, "-m", "jupyter", "lab", *as_root, f"--ServerApp.root_dir={root_dir}", *options]


def main(argv: Sequence[str] | None = None) -> None:
    """Prepare the folder, then become ``jupyter lab`` on it (exit 2 with one line on a bad ``--params``)."""
    parser = argparse.ArgumentParser(prog="python -m ecgnb.runner.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params/default.yaml"),
                        help="the working copies' profile (default: params/default.yaml)")
    parser.add_argument("--dev", action="store_true", help="open the committed notebooks instead, to edit them")
    args = parser.parse_args(argv)
    root = places.repo_root()
    if args.dev:
        folder = root / "notebooks"
        print("lab-dev: the committed notebooks (run folder reports/lab/); review `git diff notebooks/` after")
    else:
        folder = folder_for(args.params, root / "reports")
        try:
            made = working_copies(args.params, folder, root)
        except EcgnbError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        kept = len(copies_in(folder)) - len(made)
        print(f"lab: working copies in {_shown(folder, root)}/ (06_recording in {RECORDING_DIR}/, a run folder of its "
              f"own) with {_shown(args.params, root)}"
              + (f" ({kept} kept from an earlier session; delete the folder for fresh ones)" if kept else ""))
    cmd = command(folder)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
