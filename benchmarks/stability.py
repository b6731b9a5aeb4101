"""How much does a recipe's result hang on rounding? Render it under perturbed trainings, per split seed.

Every cell of the grid is one full report (``ecgnb run``), for each split seed and each
perturbation of the training:

- ``native``: this machine as it is;
- ``one-thread``: ``OMP_NUM_THREADS=1`` (another summation order, as a machine with other cores);
- ``no-vector-kernels``: ``ATEN_CPU_CAPABILITY=default`` (ATen without AVX2/AVX-512, as an older CPU);
- ``onednn-avx2``: ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN's AVX2 kernels, as an AVX2-only CPU);
- ``train-seed-N``: ``-p train_seed N``, other initial weights and batch order on the same split.

The table lists every run and, per split seed, min / median / max of ROC-AUC, balanced accuracy,
threshold and the tutorial counts, with the k-NN baseline beside them, then the goal lines of
the stable-detector issue. Runs already complete are kept (re-running resumes).

    python -m benchmarks.stability                                  # params/default.yaml, the full grid
    python -m benchmarks.stability -f params/default.yaml -p members 1 --name grid-single
    python -m benchmarks.stability --seeds 42 --perturb native one-thread
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ecgnb import runs
from ecgnb.runner import places, run_state

PERTURBATIONS = {"native": {}, "one-thread": {"OMP_NUM_THREADS": "1"},
                 "no-vector-kernels": {"ATEN_CPU_CAPABILITY": "default"},
                 "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}
# one-thread is left out by default: with 3 members on 2 cores each member has one thread anyway
DEFAULT_PERTURB = ("native", "no-vector-kernels", "onednn-avx2", "train-seed-1", "train-seed-2")
GOALS = {"roc_range": 0.002, "worst_roc": 0.992, "mean_roc": 0.9965, "threshold_spread": 0.10}
EPS = 1e-9  # a goal met to the last float bit is met (0.9970 - 0.9950 is 0.0020000000000001)


def perturbation(name: str) -> tuple[dict[str, str], list[str]]:
    """Environment and ``-p`` overrides of one perturbation."""
    if name in PERTURBATIONS:
        return PERTURBATIONS[name], []
    if name.startswith("train-seed-") and name.removeprefix("train-seed-").isdigit():
        return {}, ["-p", "train_seed", name.removeprefix("train-seed-")]
    raise SystemExit(f"error: unknown perturbation {name!r}; use {', '.join(PERTURBATIONS)} or train-seed-N")


def render(run: str, seed: int, name: str, args: argparse.Namespace) -> dict:
    """One report (skipped when complete); its key results."""
    run_dir = Path(args.reports) / run
    if not (run_dir / runs.STATUS).is_file() or run_state.read_status(run_dir).get("status") != "complete":
        env, params = perturbation(name)
        files = [a for f in args.file for a in ("-f", f)]
        extra = [a for key, value in args.param for a in ("-p", key, value)]
        command = [sys.executable, "-m", "ecgnb.runner", "run", *files, *extra, "-p", "seed", str(seed), *params,
                   "--name", run, "--reports", args.reports, "--force", "--no-cache"]  # every cell trains
        print(f"{run}: {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(command[3:])}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(command, env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise SystemExit(f"error: {run} failed:\n{done.stderr[-2000:]}")
        print(f"{run}: {time.perf_counter() - start:.0f} s", flush=True)
    return results_of(run_dir, seed, name)


def results_of(run_dir: Path, seed: int, name: str) -> dict:
    """The values the grid compares, from a finished run folder."""
    from ecgnb.runner import reference

    r = reference.results(run_dir)
    info = run_state.read_status(run_dir)
    train_s = info["notebooks"]["02_train"]["seconds"]
    return {"seed": seed, "perturbation": name, "kept_epoch": r["kept_epoch"], "roc_auc": r["roc_auc"],
            "balanced_accuracy": r["balanced_accuracy"], "threshold": r["threshold"],
            "tutorial": f"{r['tutorial_normals']:.0f} · {r['tutorial_anomalies']:.0f}",
            "baseline_roc_auc": r["baseline_roc_auc"], "report_s": info["seconds"], "train_s": train_s, "results": r}


def spread(values: list[float], digits: int) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))


def table(rows: list[dict]) -> str:
    """Every run, then per seed min / median / max, then the goal lines."""
    lines = ["| seed | perturbation | kept epoch | ROC-AUC | bal. acc. | threshold | tutorial check | "
             "5-NN ROC-AUC | report s |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['seed']} | {r['perturbation']} | {r['kept_epoch']:.1f} | {r['roc_auc']:.4f} | "
              f"{r['balanced_accuracy']:.3f} | {r['threshold']:.2f} | {r['tutorial']} | {r['baseline_roc_auc']:.4f} | "
              f"{r['report_s']:.0f} |" for r in rows]
    seeds = sorted({r["seed"] for r in rows})
    lines += ["", "| seed | runs | ROC-AUC min / median / max | range | bal. acc. min / median / max | "
              "threshold min / median / max | threshold vs median | tutorial normals | tutorial anomalies | "
              "5-NN ROC-AUC |", "|---|---|---|---|---|---|---|---|---|---|"]
    checks = {"roc_range": [], "threshold_spread": []}
    for seed in seeds:
        rs = [r for r in rows if r["seed"] == seed]
        roc, thr = [r["roc_auc"] for r in rs], [r["threshold"] for r in rs]
        med = statistics.median(thr)
        off = max(max(thr) - med, med - min(thr)) / med
        checks["roc_range"].append(max(roc) - min(roc))
        checks["threshold_spread"].append(off)
        normals = [int(r["tutorial"].split(" · ")[0]) for r in rs]
        anomalies = [int(r["tutorial"].split(" · ")[1]) for r in rs]
        lines.append(f"| {seed} | {len(rs)} | {spread(roc, 4)} | {max(roc) - min(roc):.4f} | "
                     f"{spread([r['balanced_accuracy'] for r in rs], 3)} | {spread(thr, 2)} | ±{off:.1%} | "
                     f"{min(normals)}–{max(normals)} | {min(anomalies)}–{max(anomalies)} | "
                     f"{spread([r['baseline_roc_auc'] for r in rs], 4)} |")
    means = {p: statistics.fmean(r["roc_auc"] for r in rows if r["perturbation"] == p)
             for p in dict.fromkeys(r["perturbation"] for r in rows)
             if len({r["seed"] for r in rows if r["perturbation"] == p}) == len(seeds)}
    baseline = statistics.fmean({r["seed"]: r["baseline_roc_auc"] for r in rows}.values())
    worst = min(r["roc_auc"] for r in rows)
    times = [r["report_s"] for r in rows if r["perturbation"] == "native"]
    goal = GOALS
    lines += ["", f"- per seed, ROC-AUC range ≤ {goal['roc_range']}: "
              f"{'met' if max(checks['roc_range']) <= goal['roc_range'] + EPS else 'NOT met'} "
              f"(largest {max(checks['roc_range']):.4f})",
              f"- worst ROC-AUC ≥ {goal['worst_roc']}: {'met' if worst >= goal['worst_roc'] - EPS else 'NOT met'} "
              f"({worst:.4f})",
              f"- {len(seeds)}-seed mean ROC-AUC ≥ {goal['mean_roc']} for every perturbation: "
              f"{'met' if means and min(means.values()) >= goal['mean_roc'] - EPS else 'NOT met'} ("
              + ", ".join(f"{p} {m:.4f}" for p, m in means.items()) + f"; 5-NN baseline {baseline:.4f})",
              f"- threshold within ±{goal['threshold_spread']:.0%} of its median per seed: "
              f"{'met' if max(checks['threshold_spread']) <= goal['threshold_spread'] + EPS else 'NOT met'} "
              f"(largest ±{max(checks['threshold_spread']):.1%})"]
    if times:
        lines.append(f"- native report time: {spread(times, 0)} s (min / median / max)")
    return "\n".join(lines) + "\n"


def result_spread(rows: list[dict]) -> str:
    """Per split seed, every result the notebook CI compares: its value in the native run, the range over
    the seed's runs, the largest distance from the native run, and the CI's tolerance."""
    from ecgnb.runner.reference import TOLERANCES

    lines = []
    for seed in sorted({r["seed"] for r in rows}):
        rs = [r for r in rows if r["seed"] == seed]
        native = next((r for r in rs if r["perturbation"] == "native"), rs[0])
        lines += ["", f"Split seed {seed}, {len(rs)} runs ({', '.join(r['perturbation'] for r in rs)}); "
                  f"distance from the {native['perturbation']} run:", "",
                  "| result | native | min | max | largest distance | tolerance | covered |", "|---|---|---|---|---|---|---|"]
        for name, (_, tol) in TOLERANCES.items():
            values = [r["results"][name] for r in rs if name in r["results"]]
            if name not in native["results"] or not values:
                continue
            ref = native["results"][name]
            far = max(abs(v - ref) for v in values)
            shown = f"{far / abs(ref):.1%}" if tol.relative and ref else tol.show(far)
            lines.append(f"| `{name}` | {tol.show(ref)} | {tol.show(min(values))} | {tol.show(max(values))} | {shown} | "
                         f"{tol} | {'yes' if all(tol.allows(ref, v) for v in values) else 'NO'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--file", action="append", default=[], help="params file(s) (default: params/default.yaml)")
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="split seeds (default 42 43 44)")
    parser.add_argument("--perturb", nargs="+", default=list(DEFAULT_PERTURB), metavar="NAME",
                        help=f"perturbations (default: {' '.join(DEFAULT_PERTURB)})")
    parser.add_argument("--name", default="grid", help="run folders NAME-s<seed>-<perturbation>; table NAME.md")
    parser.add_argument("--reports", default=str(places.repo_root() / "reports" / "grids"), help="where runs go")
    args = parser.parse_args()
    args.file = args.file or [str(places.repo_root() / "params" / "default.yaml")]
    for name in args.perturb:
        perturbation(name)  # every name checked before the first run
    rows = [render(f"{args.name}-s{seed}-{name}", seed, name, args) for seed in args.seeds for name in args.perturb]
    text = table(rows) + result_spread(rows)
    out = Path(args.reports) / f"{args.name}.md"
    out.write_text(f"# Stability grid {args.name}\n\n{' '.join(sys.argv[1:])}\n\n{text}")
    print(text, end="")
    print(f"table: {out}")


if __name__ == "__main__":
    main()
