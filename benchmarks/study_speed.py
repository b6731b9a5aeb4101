"""A seed study run one run at a time on all cores, then on parallel 1-thread workers, back to back.

Both are ``ecgnb study`` on a local Dask cluster: first ``--workers 1 --threads-per-run CORES``
(today's behaviour: each run alone, using every core), then ``--workers 2 --threads-per-run 1``.
Prints the CPU, both wall times and their ratio, each run's time and both study tables.

    python -m benchmarks.study_speed                              # 3 seeds of params/default.yaml
    python -m benchmarks.study_speed --seeds 1 2 -- -p epochs 2   # anything after -- goes to ecgnb study
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from ecgnb import runs
from ecgnb.runner import cluster, run_state

ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo) and its usable cores."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (info.read_text().splitlines() if info.is_file() else [])
             if line.startswith("model name")]
    return f"{names[0] if names else 'unknown CPU'}, {cluster.usable_cores()} usable cores"


def timed_study(name: str, workers: int, threads: int, seeds: Sequence[int], reports: Path,
                extra: Sequence[str]) -> float:
    """Wall seconds of one ``ecgnb study`` (fresh runs: --force); its progress goes to our stderr."""
    argv = [sys.executable, "-m", "ecgnb.runner", "study", "--name", name, "--seeds", *map(str, seeds),
            "--workers", str(workers), "--threads-per-run", str(threads), "--force", "--reports", str(reports), *extra]
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"study {name} failed (exit {done.returncode}); see its output above")
    return seconds


def run_seconds(reports: Path, study: str) -> dict[str, float]:
    """Each run's own time (run.json) in a study."""
    return {p.name: run_state.read_status(p)["seconds"] for p in sorted(reports.glob(f"{study}-*"))
            if (p / runs.STATUS).is_file()}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel study (default: 2)")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports", help="where both studies go")
    parser.add_argument("--name", default="bench", help="studies NAME-seq and NAME-par (replaced if there)")
    parser.add_argument("extra", nargs="*", help="after --: options for ecgnb study (default: -f params/default.yaml)")
    args = parser.parse_args(argv)
    extra = args.extra or ["-f", "params/default.yaml"]
    cores = cluster.usable_cores()
    seq, par = f"{args.name}-seq", f"{args.name}-par"
    seq_s = timed_study(seq, 1, cores, args.seeds, args.reports, extra)
    par_s = timed_study(par, args.workers, max(1, cores // args.workers), args.seeds, args.reports, extra)
    result = {"cpu": cpu_name(), "runs": len(args.seeds), "sequential_s": round(seq_s, 1),
              "parallel_s": round(par_s, 1), "ratio": round(seq_s / par_s, 2),
              "run_seconds": {seq: run_seconds(args.reports, seq), par: run_seconds(args.reports, par)}}
    print(f"CPU: {result['cpu']}")
    print(f"{seq}: {len(args.seeds)} runs one at a time, {cores} threads each: {seq_s:.1f} s")
    print(f"{par}: {args.workers} workers, {max(1, cores // args.workers)} thread(s) per run: {par_s:.1f} s")
    print(f"ratio: {seq_s / par_s:.2f}x")
    for study in (seq, par):
        print(f"\n{(args.reports / f'{study}.md').read_text()}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
