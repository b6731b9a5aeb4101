"""The ``ecgnb`` command: run the five notebooks into a report, index, compare, study, data.

    ecgnb run -f params/smoke.yaml -p epochs 3 --name quick   # reports/quick/*.html
    ecgnb study --seeds 42 43 44 --name seeds                  # reports/seeds-seed42 … + reports/seeds.md
    ecgnb study -g embedding_dim=16,32 --seeds 1 2 --name e    # 4 runs on a local Dask cluster
    ecgnb compare quick default                                # side-by-side table
    ecgnb index                                                # reports/index.html + index.md
    ecgnb data --data ../shared/data/ECG5000.zip               # locate and verify the data
    ecgnb score default new_beats.csv -o flagged.csv           # a run's detector on other beats

Every user error is one line ``error: …`` on stderr and exit code 2; a failed notebook
exits 1 (its report stays, with the error shown at the failing cell); Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

from ecgnb import config
from ecgnb.runner import compare, messages, pages, places, report, scoring
from ecgnb.config import Config
from ecgnb.errors import EcgnbError
from ecgnb.runner.messages import say
from ecgnb.runner.report import check_name

PATH_KEYS = ("data_path", "checkpoint", "recording")  # made absolute here: the notebooks run in the run folder


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: …``, exit 2) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        say(f"error: {message} (see {self.prog} --help)")
        raise SystemExit(2)


# ---------------------------------------------------------------- resolving the config


def find_params_file(name: str | Path, root: Path) -> Path:
    """A params file as given, else relative to the repository (so ``-f params/x.yaml`` works anywhere)."""
    path = Path(name)
    if path.is_file() or path.is_absolute():
        return path
    return root / path if (root / path).is_file() else path


def check_data_arg(data: str) -> None:
    """``--data`` must name something that exists (checked before anything is written)."""
    if not Path(data).exists():
        raise EcgnbError(f"{data}: not found (--data); pass ECG5000.zip or a folder holding the ECG5000 files")


def resolve_config(files: Sequence[str | Path], params: Sequence[Sequence[str]], data: str | None,
                   root: Path) -> tuple[Config, list[Path]]:
    """Defaults < each ``-f`` file < each ``-p`` < ``--data``; paths made absolute (:func:`report.kernel_paths`
    decides what the notebooks see of them); validated once."""
    paths = [find_params_file(f, root) for f in files] or [root / "params" / "default.yaml"]
    overrides: dict[str, Any] = {key: config.parse_value(value) for key, value in params}
    if data is not None:
        check_data_arg(data)
        overrides["data_path"] = data
    cfg = config.load(paths, overrides)
    absolute = {k: str(Path(getattr(cfg, k)).resolve()) for k in PATH_KEYS if getattr(cfg, k)}
    return (cfg.replace(**absolute) if absolute else cfg), paths


# ---------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    root = places.repo_root()
    cfg, paths = resolve_config(args.file, args.param, args.data, root)
    if cfg.recording:  # a bad recording is a one-line error before the run folder is made
        from ecgnb import recording

        recording.read(cfg.recording, cfg.lead, cfg.fs)
    name = args.name or paths[0].stem
    return report.run(cfg, name, reports_dir=places.reports_root(args.reports, root), force=args.force,
               hide_code=args.hide_code, notebooks_dir=args.notebooks_dir, params_files=paths, command=args.argv,
               use_cache=not args.no_cache)


def cmd_study(args: argparse.Namespace) -> int:
    from ecgnb.runner import grid, sweep

    root = places.repo_root()
    reports_dir = places.reports_root(args.reports, root)
    check_name(args.name)
    values = grid.parse_grid(args.grid)
    both = sorted(set(values) & {key for key, _ in args.param})
    if both:
        raise EcgnbError(f"{', '.join(both)}: given with -p and -g; keep one")
    seeds = args.seeds or [resolve_config(args.file, args.param, args.data, root)[0].seed]
    planned = grid.plan(args.name, values, seeds,
                         lambda extra: resolve_config(args.file, [*args.param, *extra], args.data, root)[0])
    for name in (p.name for p in planned):
        check_name(name)
    run_options = {"hide_code": args.hide_code, "use_cache": not args.no_cache,
                   "notebooks_dir": str(args.notebooks_dir.resolve()) if args.notebooks_dir else None}
    return sweep.run_study(args.name, planned, reports_dir=reports_dir, force=args.force, workers=args.workers,
                           threads=args.threads_per_run, scheduler=args.scheduler, run_options=run_options,
                           command=args.argv, say=say)


def cmd_compare(args: argparse.Namespace) -> int:
    root = places.repo_root()
    reports_dir = places.reports_root(args.reports, root)
    dirs = [places.find_run(r, reports_dir) for r in args.runs]
    out = Path(args.out) if args.out else reports_dir / "compare.md"
    md = compare.write_compare(dirs, out, "Compare " + ", ".join(d.name for d in dirs))
    print(md, end="")
    say(f"table: {out}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    reports_dir = places.reports_root(args.reports, places.repo_root())
    pages.write_run_pages(reports_dir)
    md_path, html_path = pages.write_index(reports_dir)
    print(md_path.read_text(), end="")
    say(f"index: {html_path} and {md_path.name}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from ecgnb import data, ecg5000_files

    if args.data is not None:
        check_data_arg(args.data)
    folder = ecg5000_files.locate(args.data, log=say)
    frame = ecg5000_files.load(folder, log=say)
    counts = frame["label"].value_counts(sort=False)
    origin = args.data or os.environ.get(data.ENV_VAR) and f"${data.ENV_VAR}" or "cache or download"
    print(f"source: {origin} (verified files in {folder})")
    print(f"rows: {len(frame)} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    print(f"fingerprint: {data.fingerprint(frame)}")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    return report.refresh_notebooks(places.repo_root())


# ---------------------------------------------------------------- the parser


def add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--file", action="extend", nargs="+", default=[], metavar="FILE",
                   help="params YAML file(s), applied in order (default: params/default.yaml)")
    p.add_argument("-p", "--param", action="append", nargs=2, default=[], metavar=("KEY", "VALUE"),
                   help="override one parameter; the value is read as YAML (int, float, bool, null, str)")
    p.add_argument("--data", metavar="PATH", help="ECG5000.zip or a folder holding its files (sets data_path)")
    p.add_argument("--force", action="store_true", help="replace an existing run folder of the same name")
    p.add_argument("--hide-code", action="store_true", help="leave code cells out of the HTML reports")
    p.add_argument("--no-cache", action="store_true",
                   help="execute every notebook, even one whose inputs equal an earlier execution's (the cache: "
                        "$ECGNB_RUN_CACHE or ~/.cache/ecgnb/runs)")
    p.add_argument("--reports", metavar="DIR", help="folder of run folders (default: reports/ of the repository)")
    p.add_argument("--notebooks-dir", type=Path, help=argparse.SUPPRESS)  # tests: run other notebooks


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ecgnb", description="Run, index and compare ecgnb reports (ECG5000 LSTM autoencoder).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("run", help="execute the five notebooks into reports/<name>/")
    add_config_options(p)
    p.add_argument("--name", help="run folder name (default: the first params file's name)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("study", help="a grid of configurations × seeds on Dask, then mean ± std per configuration")
    add_config_options(p)
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="one run per seed and configuration (default: the configuration's seed)")
    p.add_argument("-g", "--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="one configuration per value (read as YAML); several -g: every combination")
    p.add_argument("--name", required=True,
                   help="runs are NAME-<KEY><VALUE>…-seed<SEED>; the table is reports/NAME.md")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, metavar="N",
                       help="worker processes of a local Dask cluster, one run at a time each "
                            "(default: one per core, at most one per run)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use the Dask cluster at ADDRESS (tcp://host:8786) instead of a local one")
    p.add_argument("--threads-per-run", type=positive_int, metavar="T",
                   help="torch/OpenMP threads inside each run (default: a host's cores over its runs at once)")
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("compare", help="side-by-side table of runs (differing parameters and metrics)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run names under reports/ or run folders")
    p.add_argument("--out", metavar="FILE", help="write the table here (.md, plus .html next to it; "
                                                 "default: reports/compare.md)")
    p.add_argument("--reports", metavar="DIR", help="folder of run folders (default: reports/ of the repository)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("index", help="write reports/index.html and index.md listing every run")
    p.add_argument("--reports", metavar="DIR", help="folder of run folders (default: reports/ of the repository)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("data", help="locate (download if needed) and verify ECG5000; print source and fingerprint")
    p.add_argument("--data", metavar="PATH", help="ECG5000.zip or a folder (default: $ECGNB_DATA, cache, download)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("score", help="score and flag the beats of a file with a complete run's detector")
    p.add_argument("run", metavar="RUN", help="run name under reports/ or a run folder")
    p.add_argument("file", metavar="FILE", help="beats as .csv, .tsv, .arff or .npz (docs/data.md; labels optional), "
                                               "or a recording: a WFDB record, .edf, or .csv/.npy with --fs "
                                               "(docs/recording.md)")
    p.add_argument("--lead", metavar="NAME", help="the recording's lead (default: the first)")
    p.add_argument("--fs", type=float, metavar="HZ", help="sampling rate of a .csv or .npy recording")
    p.add_argument("-o", "--out", metavar="OUT.csv", help="write the table here (default: CSV on stdout)")
    p.add_argument("--force", action="store_true", help="replace an existing OUT.csv")
    p.add_argument("--reports", metavar="DIR", help="folder of run folders (default: reports/ of the repository)")
    p.set_defaults(func=scoring.cmd_score)

    p = sub.add_parser("refresh-notebooks", help="re-execute notebooks/ in place (after an intended change)")
    p.set_defaults(func=cmd_refresh)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ecgnb`` and ``python -m ecgnb.runner``; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return messages.guarded(lambda: args.func(args))
