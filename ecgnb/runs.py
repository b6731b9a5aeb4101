"""Run folders: the files notebooks hand to each other, named in one place, written whole.

A run folder (``reports/<name>/``) holds everything one run produced. Notebooks never
share kernel state: each reads what earlier notebooks wrote here, so any one of them can
be re-run alone. :class:`Run` is the folder with its parameters; 01_explore opens it
(:func:`open_run`), every later notebook and the runner reopen it (:func:`reopen`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ecgnb import atomic, config, data
from ecgnb.config import Config
from ecgnb.data import Split
from ecgnb.errors import EcgnbError

NOTEBOOKS = ("01_explore", "02_train", "03_threshold", "04_evaluate", "05_visualize")
RECORDING_NOTEBOOK = "06_recording"  # a run on a recording (parameter recording) executes this one alone

PARAMS = "params.yaml"  # resolved parameters of the run (01 writes it, 02-05 read it)
DATA_INFO = "data.json"  # data source, fingerprint, split sizes (01)
SPLIT = "split.npz"  # the split arrays (01)
CHECKPOINT = "model.pt"  # state_dict + config + history + fingerprint (02)
HISTORY = "history.csv"  # one row per epoch (02)
LOSSES = "losses.csv"  # per-heartbeat reconstruction loss and its set (02)
THRESHOLD = "threshold.json"  # the chosen threshold and rule (03)
METRICS = "metrics.json"  # held-out and tutorial-protocol metrics (04)
FIGURES = "figures"  # PNG figures of every notebook
STATUS = "run.json"  # status, timings, versions (the CLI)
PROGRESS = "progress.jsonl"  # training progress records for the CLI (02, when the CLI runs it)
BEATS = "beats.csv"  # one row per beat of a recording: time_s, score, flagged[, label], the evidence (06)


@dataclass(frozen=True)
class Run:
    """One run folder and the parameters it was started with; its files by name. A path-like object, so
    ``plots.save(fig, run, name)`` and ``Detector.load(run)`` take it as the folder."""

    folder: Path
    config: Config

    def __fspath__(self) -> str:
        return os.fspath(self.folder)

    def file(self, name: str) -> Path:
        """The path of one of the run's files (:data:`SPLIT`, :data:`LOSSES`, …)."""
        return self.folder / name

    def read_json(self, name: str, made_by: str = "an earlier notebook") -> dict[str, Any]:
        """One of the run's JSON files; a missing one says which notebook makes it."""
        return read_json(self.file(name), made_by)

    def write_json(self, name: str, content: Mapping[str, Any]) -> None:
        write_json(self.file(name), content)

    def data_info(self) -> dict[str, Any]:
        """What 01_explore recorded of the data: its source, fingerprint, classes and split sizes."""
        return self.read_json(DATA_INFO, "01_explore")

    def split(self) -> Split:
        """The split 01_explore made (:data:`SPLIT`)."""
        return data.load_split(self.file(SPLIT))

    def save_split(self, split: Split) -> None:
        data.save_split(split, self.file(SPLIT))


def write_json(target: str | Path, content: Mapping[str, Any]) -> None:
    """Pretty JSON, written whole."""
    atomic.write_text(target, json.dumps(content, indent=2, sort_keys=False) + "\n")


def read_json(source: str | Path, made_by: str = "an earlier notebook") -> dict[str, Any]:
    """Read a JSON artifact; a missing file says which notebook makes it."""
    source = Path(source)
    if not source.is_file():
        raise EcgnbError(f"{source}: not found; run {made_by} for this run folder first")
    return json.loads(source.read_text())


def open_run(run_dir: str | Path, params_file: str | Path | None = None,
             overrides: Mapping[str, Any] | None = None) -> Run:
    """Start or reopen a run: the config from ``params_file`` + ``overrides``, saved in the folder.

    A folder that already has parameters keeps them when nothing else is asked. Asked for other
    values (a learner edited the parameters cell), the run starts over: the files the notebooks wrote
    with the old values are removed, the new values saved, and a note says what changed, so a folder
    never mixes two configurations.
    """
    run_dir = Path(run_dir)
    saved = run_dir / PARAMS
    wanted = config.load([params_file] if params_file else [], overrides or {})
    if saved.is_file():
        existing = config.load([saved])
        asks_other = bool(overrides) or (params_file and Path(params_file).resolve() != saved.resolve())
        if not asks_other or existing == wanted:
            return Run(run_dir, existing)
        diff = [f"{k}: {v!r} → {wanted.to_dict()[k]!r}" for k, v in existing.to_dict().items()
                if wanted.to_dict()[k] != v]
        removed = start_over(run_dir)
        print(f"new parameters ({'; '.join(diff)}): this run starts over; removed what the old ones produced "
              f"({', '.join(removed) or 'nothing yet'})")
    (run_dir / FIGURES).mkdir(parents=True, exist_ok=True)
    atomic.write_text(saved, config.to_yaml(wanted))
    return Run(run_dir, wanted)


DERIVED = (DATA_INFO, SPLIT, CHECKPOINT, HISTORY, LOSSES, THRESHOLD, METRICS, BEATS, PROGRESS)  # what notebooks write


def start_over(run_dir: Path) -> list[str]:
    """Remove the files a run's notebooks wrote (figures included; notebooks and params.yaml stay); their names."""
    gone = [p for p in (run_dir / name for name in DERIVED) if p.is_file()]
    gone += sorted((run_dir / FIGURES).glob("*.png"))
    for p in gone:
        p.unlink()
    return [p.relative_to(run_dir).as_posix() for p in gone]


def notebooks_for(cfg: Config) -> tuple[str, ...]:
    """The notebooks a run executes: 06_recording alone for a recording, else the five."""
    return (RECORDING_NOTEBOOK,) if cfg.recording else NOTEBOOKS


def reopen(run_dir: str | Path) -> Run:
    """A run folder with the parameters it was started with (written by 01_explore or ``ecgnb run``)."""
    saved = Path(run_dir) / PARAMS
    if not saved.is_file():
        raise EcgnbError(f"{saved}: not found; run 01_explore for this run folder first")
    return Run(Path(run_dir), config.load([saved]))
