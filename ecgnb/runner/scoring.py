"""``ecgnb score``: a complete run's detector on other beats (a file of beats) or on a recording.

The detector is :meth:`ecgnb.Detector.load` of the run folder (its ``model.pt``, read with
``weights_only=True``, never a pickle, and checked against the run's data fingerprint; the threshold
03_threshold chose). The table goes to ``-o OUT.csv`` (whole or not at all, never over a file
without ``--force``) or to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ecgnb import atomic, config, runs
from ecgnb.errors import EcgnbError
from ecgnb.runner import places, run_state
from ecgnb.runner.messages import say

if TYPE_CHECKING:  # torch and pandas load only once a run is scored
    import pandas as pd

    from ecgnb.detector import Detector

RECORDING_SUFFIXES = (".edf", *config.SAMPLE_SUFFIXES)  # besides WFDB records, named without extension


def cmd_score(args: argparse.Namespace) -> int:
    """``ecgnb score RUN FILE``: the beats of a file (or a recording, :func:`score_recording`) flagged."""
    from ecgnb import datasets, detect
    from ecgnb.threshold import Threshold

    out = Path(args.out) if args.out else None
    check_out(out, args.force)  # before any work
    suffix = Path(args.file).suffix.lower()
    if suffix not in (*datasets.FORMATS, *RECORDING_SUFFIXES) and not Path(f"{args.file}.hea").is_file():
        raise EcgnbError(f"{args.file}: unknown file format {suffix!r}; pass beats ({', '.join(datasets.FORMATS)}) "
                         f"or a recording (a WFDB record without extension, {', '.join(RECORDING_SUFFIXES)})")
    if args.fs is not None or args.lead is not None or not datasets.is_beat_file(args.file):
        return score_recording(args, out)
    run_dir = places.find_run(args.run, places.reports_root(args.reports, places.repo_root()))
    detector = load(run_dir)
    table = detect.flag(detector, Path(args.file), run_dir.name)
    write_csv(table, out, args.force, sys.stdout)
    rule = Threshold.load(Path(run_dir) / runs.THRESHOLD).rule
    say(f"{int(table['flagged'].sum())} of {len(table)} beats flagged (anomaly score above "
        f"{detector.threshold_:.4g}, rule {rule}){f'; table: {args.out}' if args.out else ''}")
    return 0


def score_recording(args: argparse.Namespace, out: Path | None) -> int:
    """``ecgnb score RUN RECORD``: the beats of a recording flagged with a run's detector and their timing."""
    from ecgnb import heartbeats

    run_dir = places.find_run(args.run, places.reports_root(args.reports, places.repo_root()))
    table = heartbeats.score_recording(run_dir, args.file, args.lead, args.fs)
    write_csv(table, out, args.force, sys.stdout)
    say(f"{int(table['flagged'].sum())} of {len(table)} beats flagged (shape or timing beyond robust z "
        f"{heartbeats.FLAG_Z:g}){f'; table: {args.out}' if args.out else ''}")
    return 0


def load(run_dir: Path) -> "Detector":
    """The detector of a complete run folder; a run that is not complete, or a model of other data, is an error."""
    from ecgnb.detector import Detector

    if (run_dir / runs.STATUS).is_file():
        status = run_state.effective_status(run_state.read_status(run_dir))
        if status != "complete":
            raise EcgnbError(f"{run_dir}: the run is {status}, not complete; score with a complete run")
    elif not (run_dir / runs.METRICS).is_file():
        raise EcgnbError(f"{run_dir}: no {runs.METRICS}: its notebooks have not all run; score with a complete run")
    info = runs.read_json(Path(run_dir) / runs.DATA_INFO, "01_explore")
    return Detector.load(run_dir, fingerprint=info["fingerprint"])


def check_out(out: Path | None, force: bool) -> None:
    """An output file may be written: its folder exists, and it does not (or ``force``)."""
    if out is not None and out.exists() and not force:
        raise EcgnbError(f"{out}: exists; pass --force to replace it or choose another -o")
    if out is not None and not out.parent.is_dir():
        raise EcgnbError(f"{out.parent}: no such folder (-o); create it or choose another -o")


def write_csv(table: pd.DataFrame, out: Path | None, force: bool, stdout: TextIO) -> None:
    """``table`` as CSV to ``out`` (whole or not at all; see :func:`check_out`), else to ``stdout``."""
    if out is None:
        stdout.write(table.to_csv(index=False))
        return
    check_out(out, force)
    atomic.write_text(out, table.to_csv(index=False))
