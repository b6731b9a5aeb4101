"""A study's grid: every configuration × seed as one planned run, validated and named, and which of
them a study still has to run (resume).

    parse_grid()   ``-g KEY=V1,V2`` options → {key: [values]}
    plan()         validates every configuration (before anything starts) and names its run
    decide()       splits the plan into runs to do and complete runs kept from before
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ecgnb import runs
from ecgnb.config import Config
from ecgnb.errors import EcgnbError
from ecgnb.runner import run_state


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study: its folder name, its validated config and its grid values (its configuration)."""

    name: str
    cfg: Config
    setting: tuple[tuple[str, Any], ...]


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``-g KEY=V1,V2`` options → {key: [value text, …]} in the order given (values are read as YAML later)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        texts = [v.strip() for v in values.split(",")]
        if not sep or not key or not all(texts):
            raise EcgnbError(f"-g {item}: write KEY=V1,V2,… (a parameter, '=', comma-separated values)")
        if key == "seed":
            raise EcgnbError(f"-g {item}: give seeds with --seeds, not in a grid")
        if key in grid:
            raise EcgnbError(f"-g {key}: given twice; list all its values in one -g {key}=V1,V2,…")
        if len(set(texts)) != len(texts):
            raise EcgnbError(f"-g {item}: each value once")
        grid[key] = texts
    return grid


def plan(study: str, grid: Mapping[str, Sequence[str]], seeds: Sequence[int],
         resolve: Callable[[list[tuple[str, str]]], Config]) -> list[PlannedRun]:
    """Every grid point × seed, validated by ``resolve`` (extra ``-p`` pairs → Config), in a stable order.

    A value that makes an invalid configuration is a one-line error naming the run; nothing has
    started then. Run names say their configuration: ``STUDY-embedding_dim16-seed2``.
    """
    if len(set(seeds)) != len(seeds):
        raise EcgnbError(f"--seeds {' '.join(map(str, seeds))}: each seed once")
    planned = []
    for values in itertools.product(*grid.values()):
        pairs = list(zip(grid, values))
        for seed in seeds:
            name = run_name(study, pairs, seed)
            try:
                cfg = resolve([*pairs, ("seed", str(seed))])
            except EcgnbError as err:
                raise EcgnbError(f"run {name}: {err}") from None
            planned.append(PlannedRun(name, cfg, tuple((k, getattr(cfg, k)) for k, _ in pairs)))
    names = [p.name for p in planned]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise EcgnbError(f"grid values give the same run name twice ({', '.join(clashes)}); "
                         "use values that differ in letters or digits")
    return planned


def run_name(study: str, pairs: Sequence[tuple[str, str]], seed: int) -> str:
    """``STUDY-KEYVALUE-…-seedS``; characters a folder name cannot hold become '_'."""
    parts = [study, *(f"{key}{value}" for key, value in pairs), f"seed{seed}"]
    return "-".join(parts).translate({ord(c): "_" for c in "/\\ :*?\"'<>|"})


# ---------------------------------------------------------------- resuming


def decide(planned: Sequence[PlannedRun], reports_dir: Path, force: bool) -> tuple[list[PlannedRun], list[PlannedRun]]:
    """(to run, kept): a complete run with the same parameters is kept unless ``force``; a failed or
    incomplete one runs again. A folder that is not this run (no run.json, other parameters) is an
    error unless ``force``.
    """
    todo, kept = [], []
    for run in planned:
        folder = reports_dir / run.name
        if not folder.exists() or force:
            todo.append(run)
            continue
        info = run_state.read_status(folder) if (folder / runs.STATUS).is_file() else None
        if info is None or info.get("parameters") != run.cfg.to_dict():
            what = "was not made by `ecgnb run`" if info is None else "holds other parameters"
            raise EcgnbError(f"{folder}: run folder {what}; pass --force to replace it or choose another --name")
        (kept if run_state.effective_status(info) == "complete" else todo).append(run)
    return todo, kept
