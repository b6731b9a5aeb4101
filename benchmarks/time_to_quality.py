"""The previous default recipe against the current one: one full report each, back to back, same seed.

Both are ``ecgnb run`` with an empty model cache (``--no-cache``), on this machine, one after the
other. For each it prints the wall time of the report and of ``02_train``, the member-epochs and
optimizer steps trained, and the held-out ROC-AUC and balanced accuracy; then the ratio of the
report times (current / previous).

    python -m benchmarks.time_to_quality               # seed 42
    python -m benchmarks.time_to_quality --seed 43
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import pandas as pd

from benchmarks.study_speed import cpu_name
from ecgnb import data, runs
from ecgnb.runner import places, reference, run_state

# The default recipe before the current one, value for value: 3 members × 27 epochs on every sample.
PREVIOUS = {"embedding_dim": 32, "downsample": 1, "members": 3, "epochs": 27, "batch_size": 16, "lr": 0.004}


def render(name: str, seed: int, overrides: dict[str, object], reports: Path) -> dict[str, float]:
    """One full report, timed from outside; what the table shows of it."""
    extra = [a for key, value in overrides.items() for a in ("-p", key, str(value))]
    command = [sys.executable, "-m", "ecgnb.runner", "run", *extra, "-p", "seed", str(seed), "--name", name,
               "--reports", str(reports), "--force", "--no-cache"]
    print(f"{name}: {' '.join(command[2:])}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"error: {name} failed:\n{done.stderr[-2000:]}")
    return measured(reports / name, wall)


def measured(run_dir: Path, wall: float) -> dict[str, float]:
    """Times, training work and held-out quality of a finished run folder."""
    cfg = runs.reopen(run_dir).config
    history = pd.read_csv(run_dir / runs.HISTORY)
    train_beats = data.load_split(run_dir / runs.SPLIT).train.shape[0]
    r = reference.results(run_dir)
    return {"report_s": wall, "train_s": run_state.read_status(run_dir)["notebooks"]["02_train"]["seconds"],
            "member_epochs": len(history), "steps": len(history) * math.ceil(train_beats / cfg.batch_size),
            "roc_auc": r["roc_auc"], "balanced_accuracy": r["balanced_accuracy"]}


def table(rows: dict[str, dict[str, float]]) -> str:
    """The two runs side by side, then the ratio of their report times."""
    lines = ["| recipe | report s | 02_train s | member-epochs | optimizer steps | ROC-AUC | bal. acc. |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['report_s']:.1f} | {r['train_s']:.1f} | {r['member_epochs']} | {r['steps']} | "
              f"{r['roc_auc']:.4f} | {r['balanced_accuracy']:.3f} |" for name, r in rows.items()]
    previous, current = rows["previous default"], rows["current default"]
    lines.append(f"\nratio (current / previous): report {current['report_s'] / previous['report_s']:.2f}×, "
                 f"02_train {current['train_s'] / previous['train_s']:.2f}×")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=42, help="split seed of both runs (default 42)")
    parser.add_argument("--reports", default=str(places.repo_root() / "reports" / "time-to-quality"))
    args = parser.parse_args(argv)
    reports = Path(args.reports)
    print(f"CPU: {cpu_name()}", flush=True)
    rows = {"previous default": render(f"previous-seed{args.seed}", args.seed, PREVIOUS, reports),
            "current default": render(f"current-seed{args.seed}", args.seed, {}, reports)}
    print(table(rows), end="")
    return rows


if __name__ == "__main__":
    main()
