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
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from ecgnb import config, pages, progress, runs
from ecgnb.config import Config
from ecgnb.errors import EcgnbError

KERNEL = "python3"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
PATH_KEYS = ("data_path", "checkpoint")  # made absolute here: the notebooks run in the run folder, not the caller's cwd


# ---------------------------------------------------------------- messages


def say(message: str = "", end: str = "\n") -> None:
    """Progress and errors go to stderr; stdout is kept for tables."""
    print(message, end=end, file=sys.stderr, flush=True)


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
    """Defaults < each ``-f`` file < each ``-p`` < ``--data``; paths made absolute (:func:`kernel_paths`
    decides what the notebooks see of them); validated once."""
    paths = [find_params_file(f, root) for f in files] or [root / "params" / "default.yaml"]
    overrides: dict[str, Any] = {key: config.parse_value(value) for key, value in params}
    if data is not None:
        check_data_arg(data)
        overrides["data_path"] = data
    cfg = config.load(paths, overrides)
    absolute = {k: str(Path(getattr(cfg, k)).resolve()) for k in PATH_KEYS if getattr(cfg, k)}
    return (cfg.replace(**absolute) if absolute else cfg), paths


def kernel_paths(cfg: Config, run_dir: Path) -> tuple[Config, str | None]:
    """What the notebooks see of the paths a user gave, so that no absolute path reaches a report.

    ``checkpoint`` becomes relative to the run folder, where the notebooks run (a run reusing another's
    model reads ``../other/model.pt``). ``data_path`` goes to the kernels as ``$ECGNB_DATA`` and is null
    in the run's parameters: where the data lay is no part of the result (``data.json`` records the
    files and their fingerprint). Returns the config and the data path (None when not given).
    """
    data = str(Path(cfg.data_path).resolve()) if cfg.data_path else None
    checkpoint = os.path.relpath(cfg.checkpoint, run_dir.resolve()) if cfg.checkpoint else None
    return cfg.replace(data_path=None, checkpoint=checkpoint), data


def shown_path(path: Path, root: Path) -> str:
    """A params file as run.json records it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else path.name


def check_name(name: str) -> str:
    """A run name is one plain folder name."""
    if not NAME_PATTERN.fullmatch(name):
        raise EcgnbError(f"run name {name!r} must be letters, digits, '.', '_' or '-' (no '/', not starting "
                         "with '.'); pass another --name")
    return name


def reports_root(reports: str | None, root: Path) -> Path:
    return Path(reports).resolve() if reports else root / "reports"


def notebook_list(notebooks_dir: Path | None, root: Path) -> tuple[Path, list[str]]:
    """The folder and the notebooks to run: the five of ``runs.NOTEBOOKS``, or every .ipynb of another folder."""
    folder = Path(notebooks_dir).resolve() if notebooks_dir else root / "notebooks"
    names = list(runs.NOTEBOOKS) if notebooks_dir is None else sorted(p.stem for p in folder.glob("*.ipynb"))
    missing = [n for n in names if not (folder / f"{n}.ipynb").is_file()]
    if missing or not names:
        raise EcgnbError(f"{folder}: notebook(s) {', '.join(missing) or '*.ipynb'} not found; "
                         "run from a complete ecgnb checkout")
    return folder, names


# ---------------------------------------------------------------- running one report


def prepare_run_dir(run_dir: Path, force: bool) -> None:
    """Refuse an existing run folder unless ``force``; never delete one whose run is still going."""
    if run_dir.exists():
        if not force:
            raise EcgnbError(f"{run_dir}: run folder exists; pass --force to replace it or choose another --name")
        if (run_dir / runs.STATUS).is_file():
            info = runs.read_status(run_dir)
            if runs.effective_status(info) == "running" and info.get("pid") != os.getpid():
                raise EcgnbError(f"{run_dir}: a run is still writing there (pid {info.get('pid')}); "
                                 "wait for it or choose another --name")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)


def execute(notebook: Path, output: Path, parameters: dict[str, Any], cwd: Path) -> None:
    """papermill, quiet, in ``cwd``, with the environment's python3 kernel."""
    import papermill

    papermill.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(cwd),
                               kernel_name=KERNEL, log_output=False, progress_bar=False,
                               request_save_on_cell_execute=False, config=kernel_config())


def kernel_config() -> Any:
    """Encrypt kernel traffic where zmq can (CurveZMQ); it also silences ipykernel's plain-TCP warning."""
    import zmq
    from traitlets.config import Config as TraitletsConfig

    return TraitletsConfig({"KernelManager": {"transport_encryption": "auto"}} if zmq.has("curve") else {})


def render_html(notebook: Path, hide_code: bool) -> Path:
    """The executed notebook as standalone HTML next to it (code cells left out with ``hide_code``)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(exclude_input=hide_code).from_filename(str(notebook))
    target = notebook.with_suffix(".html")
    runs.write_text_atomic(target, body)
    return target


def finish_notebook(output: Path, hide_code: bool) -> str | None:
    """Clean and render an executed copy if papermill wrote one; the HTML's name, or None."""
    if not output.is_file():
        return None
    runs.clean_notebook(output, run_dir=output.parent)
    return render_html(output, hide_code).name


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def model_cache_dir() -> Path:
    """Where ``ecgnb run`` keeps trained models: ``$ECGNB_MODEL_CACHE``, else ``models/`` in the data cache."""
    from ecgnb import cache, data

    return Path(os.environ.get(cache.ENV_VAR) or data.cache_dir() / "models")


def kernel_env(root: Path, progress_file: Path, data_path: str | None = None,
               model_cache: Path | None = None) -> dict[str, str | None]:
    """The kernels' environment: the repository first on PYTHONPATH (they run in the run folder), the
    file where training reports its progress, the data when given, and the model cache (None: off,
    even if the shell set one); returns the old values for :func:`restore_env`."""
    from ecgnb.cache import ENV_VAR as CACHE_ENV_VAR
    from ecgnb.data import ENV_VAR as DATA_ENV_VAR

    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", progress.ENV_VAR, DATA_ENV_VAR, CACHE_ENV_VAR)}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root), *([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else [])])
    os.environ[progress.ENV_VAR] = str(progress_file)
    if data_path:
        os.environ[DATA_ENV_VAR] = data_path
    if model_cache is None:
        os.environ.pop(CACHE_ENV_VAR, None)
    else:
        os.environ[CACHE_ENV_VAR] = str(model_cache)
    return saved


def restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run(cfg: Config, name: str, *, reports_dir: Path, force: bool = False, hide_code: bool = False,
        notebooks_dir: Path | None = None, params_files: Sequence[Path] = (), command: Sequence[str] = (),
        use_cache: bool = True) -> int:
    """Execute the notebooks into ``reports_dir/name``; return the exit code (0, 1 failed, 130 interrupted).
    With ``use_cache``, 02_train reuses an identical training from :func:`model_cache_dir`.

    User errors before anything is written raise :class:`EcgnbError`.
    """
    root = runs.repo_root()
    check_name(name)
    folder, notebooks = notebook_list(notebooks_dir, root)
    run_dir = Path(reports_dir).resolve() / name
    prepare_run_dir(run_dir, force)
    (run_dir / runs.FIGURES).mkdir()
    cfg, data_path = kernel_paths(cfg, run_dir)
    runs.write_text_atomic(run_dir / runs.PARAMS, config.to_yaml(cfg))
    runs.start_status(run_dir, name, cfg, notebooks, command=["ecgnb", *command],
                      params_files=[shown_path(p, root) for p in params_files], hide_code=hide_code)
    pages.write_run_page(run_dir)
    say(f"run {name}: {len(notebooks)} notebooks → {run_dir}")
    saved_env = kernel_env(root, run_dir / runs.PROGRESS, data_path, model_cache_dir() if use_cache else None)
    start = time.perf_counter()
    try:
        for i, nb in enumerate(notebooks, 1):
            code = run_one(run_dir, folder, nb, f"[{i}/{len(notebooks)}]", first=i == 1, hide_code=hide_code,
                           start=start)
            if code:
                return code
    finally:
        restore_env(saved_env)
    metrics_file = run_dir / runs.METRICS
    metrics = runs.key_metrics(runs.read_json(metrics_file)) if metrics_file.is_file() else {}
    runs.finish_status(run_dir, "complete", time.perf_counter() - start, metrics=metrics)
    page = pages.write_run_page(run_dir)
    _, index_html = pages.write_index(run_dir.parent)
    headline = ", ".join(f"{k} {pages.fmt(metrics[k])}" for k in ("roc_auc", "f1", "balanced_accuracy")
                         if k in metrics)
    say(f"run {name} complete in {time.perf_counter() - start:.1f} s{': ' + headline if headline else ''}")
    say(f"report: {page}  all runs: {index_html}")
    return 0


def progress_line(step: str, nb: str) -> tuple[progress.Display, Callable[[str], None]]:
    """Start the line ``step nb …``; return the display for training progress (its lines go below
    this one) and ``outcome(text)``, which ends the line, naming step and notebook again after progress."""
    say(f"{step} {nb} … ", end="")
    display = progress.Display(sys.stderr, opening="\n")
    return display, lambda text: say(f"{step} {nb} {text}" if display.shown else text)


def run_one(run_dir: Path, folder: Path, nb: str, step: str, *, first: bool, hide_code: bool, start: float) -> int:
    """Execute (in the run folder, so every path the notebook sees is relative), clean and render one
    notebook, showing training progress while it runs; record it in run.json. 0, or the run's exit code."""
    from papermill.exceptions import PapermillExecutionError

    output = run_dir / f"{nb}.ipynb"
    parameters: dict[str, Any] = {"run_dir": "."}
    if first:
        parameters["params_file"] = runs.PARAMS
    runs.update_notebook(run_dir, nb, status="running")
    display, outcome = progress_line(step, nb)
    t0 = time.perf_counter()
    try:
        with progress.following(run_dir / runs.PROGRESS, display):
            execute(folder / f"{nb}.ipynb", output, parameters, run_dir)
    except KeyboardInterrupt:
        outcome("interrupted")
        return stop(run_dir, nb, "interrupted", time.perf_counter() - t0, start, hide_code, cell=None,
                    error="KeyboardInterrupt", code=130)
    except PapermillExecutionError as err:
        outcome("failed")
        return stop(run_dir, nb, "failed", time.perf_counter() - t0, start, hide_code, cell=err.exec_count,
                    error=one_line(f"{err.ename}: {err.evalue}" if err.evalue else err.ename), code=1)
    except Exception as err:  # noqa: BLE001 - a dead kernel, a timeout: the run failed, say why in one line
        outcome("failed")
        return stop(run_dir, nb, "failed", time.perf_counter() - t0, start, hide_code, cell=None,
                    error=one_line(f"{type(err).__name__}: {err}"), code=1)
    seconds = time.perf_counter() - t0
    html_name = finish_notebook(output, hide_code)
    runs.update_notebook(run_dir, nb, status="done", seconds=round(seconds, 1), html=html_name)
    pages.write_run_page(run_dir)
    outcome(f"done in {seconds:.1f} s")
    return 0


def stop(run_dir: Path, nb: str, status: str, seconds: float, start: float, hide_code: bool, *,
         cell: int | None, error: str, code: int) -> int:
    """Record a failed or interrupted notebook: its report (if written), run.json, the index, one line."""
    error = runs.hide_paths(error, runs.machine_paths(run_dir))  # run.json and the run's page travel too
    html_name = None
    try:
        html_name = finish_notebook(run_dir / f"{nb}.ipynb", hide_code)
    except Exception as err:  # noqa: BLE001 - the run already failed; say that first, the render second
        say(f"warning: could not render {nb}.html ({type(err).__name__}: {one_line(err)})")
    runs.update_notebook(run_dir, nb, status=status, seconds=round(seconds, 1), html=html_name)
    failure = {"notebook": nb, "cell": cell, "error": error, "html": html_name}
    runs.finish_status(run_dir, status, time.perf_counter() - start, failure=failure)
    pages.write_run_page(run_dir)
    pages.write_index(run_dir.parent)
    where = f" at cell [{cell}]" if cell is not None else ""
    see = f" (see {run_dir / html_name})" if html_name else ""
    say(f"error: {nb} {status}{where}: {error}{see}")
    return code


# ---------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    root = runs.repo_root()
    cfg, paths = resolve_config(args.file, args.param, args.data, root)
    name = args.name or paths[0].stem
    return run(cfg, name, reports_dir=reports_root(args.reports, root), force=args.force,
               hide_code=args.hide_code, notebooks_dir=args.notebooks_dir, params_files=paths, command=args.argv,
               use_cache=not args.no_cache)


def cmd_study(args: argparse.Namespace) -> int:
    from ecgnb import sweep

    root = runs.repo_root()
    reports_dir = reports_root(args.reports, root)
    check_name(args.name)
    grid = sweep.parse_grid(args.grid)
    both = sorted(set(grid) & {key for key, _ in args.param})
    if both:
        raise EcgnbError(f"{', '.join(both)}: given with -p and -g; keep one")
    seeds = args.seeds or [resolve_config(args.file, args.param, args.data, root)[0].seed]
    planned = sweep.plan(args.name, grid, seeds,
                         lambda extra: resolve_config(args.file, [*args.param, *extra], args.data, root)[0])
    for name in (p.name for p in planned):
        check_name(name)
    run_options = (["--hide-code"] * args.hide_code + ["--no-cache"] * args.no_cache
                   + (["--notebooks-dir", str(args.notebooks_dir.resolve())] if args.notebooks_dir else []))
    return sweep.run_study(args.name, planned, reports_dir=reports_dir, force=args.force, workers=args.workers,
                           threads=args.threads_per_run, scheduler=args.scheduler, run_options=run_options,
                           command=args.argv, say=say)


def cmd_compare(args: argparse.Namespace) -> int:
    root = runs.repo_root()
    reports_dir = reports_root(args.reports, root)
    dirs = [find_run(r, reports_dir) for r in args.runs]
    out = Path(args.out) if args.out else reports_dir / "compare.md"
    md = pages.write_compare(dirs, out, "Compare " + ", ".join(d.name for d in dirs))
    print(md, end="")
    say(f"table: {out}")
    return 0


def find_run(name: str, reports_dir: Path) -> Path:
    """A run by name under the reports folder, or a run folder's path."""
    for candidate in (reports_dir / name, Path(name)):
        if (candidate / runs.STATUS).is_file() or (candidate / runs.PARAMS).is_file():
            return candidate
    raise EcgnbError(f"run {name!r}: no run folder {reports_dir / name} (with run.json or params.yaml); "
                     "see `ecgnb index` for the runs there")


def cmd_index(args: argparse.Namespace) -> int:
    reports_dir = reports_root(args.reports, runs.repo_root())
    pages.write_run_pages(reports_dir)
    md_path, html_path = pages.write_index(reports_dir)
    print(md_path.read_text(), end="")
    say(f"index: {html_path} and {md_path.name}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from ecgnb import data

    if args.data is not None:
        check_data_arg(args.data)
    folder = data.locate(args.data, log=say)
    frame = data.load(folder, log=say)
    counts = frame["label"].value_counts(sort=False)
    origin = args.data or os.environ.get(data.ENV_VAR) and f"${data.ENV_VAR}" or "cache or download"
    print(f"source: {origin} (verified files in {folder})")
    print(f"rows: {len(frame)} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    print(f"fingerprint: {data.fingerprint(frame)}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from ecgnb import detect

    out = Path(args.out) if args.out else None
    detect.check_out(out, args.force)  # before any work
    detector = detect.load(find_run(args.run, reports_root(args.reports, runs.repo_root())))
    table = detector.flag(Path(args.file))
    detect.write_csv(table, out, args.force, sys.stdout)
    say(f"{int(table['flagged'].sum())} of {len(table)} beats flagged (anomaly score above "
        f"{detector.threshold.value:.4g}, rule {detector.threshold.rule}){f'; table: {args.out}' if args.out else ''}")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    """Re-execute the committed notebooks in place with their own defaults (run folder reports/lab),
    then record that run as the reference (notebooks/reference.json) and show it in 04_evaluate."""
    from ecgnb import reference

    root = runs.repo_root()
    folder = root / "notebooks"
    lab = root / "reports" / "lab"
    if lab.exists():
        shutil.rmtree(lab)  # the notebooks' own scratch run: start it afresh with the current defaults
    saved_env = kernel_env(root, lab / runs.PROGRESS)
    try:
        for i, nb in enumerate(runs.NOTEBOOKS, 1):
            refresh_notebook(folder / f"{nb}.ipynb", f"[{i}/{len(runs.NOTEBOOKS)}]", lab)
        reference.write(lab, folder / reference.REFERENCE)
        # 04_evaluate compared the run with the old reference: once more, against the new one (no training)
        refresh_notebook(folder / f"{REFERENCE_NOTEBOOK}.ipynb", "[reference]", lab)
    finally:
        restore_env(saved_env)
    say(f"notebooks and {reference.REFERENCE} refreshed: review `git diff notebooks/`, then commit")
    return 0


REFERENCE_NOTEBOOK = "04_evaluate"  # the notebook that compares a run with the reference


def refresh_notebook(path: Path, step: str, run_dir: Path) -> None:
    """Execute one committed notebook in place with its own defaults (its run folder ``run_dir``),
    showing training progress, and clean it for git."""
    display, outcome = progress_line(step, path.stem)
    t0 = time.perf_counter()
    with progress.following(run_dir / runs.PROGRESS, display):
        execute(path, path, {}, path.parent)  # no parameters: papermill injects no cell
    runs.clean_notebook(path, committed=True, run_dir=run_dir)
    outcome(f"done in {time.perf_counter() - t0:.1f} s")


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
                   help="train even when the model cache holds an identical training (the cache: $ECGNB_MODEL_CACHE "
                        "or ~/.cache/ecgnb/models)")
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
    p.add_argument("file", metavar="FILE", help="beats as .csv, .tsv, .arff or .npz (docs/data.md); labels optional")
    p.add_argument("-o", "--out", metavar="OUT.csv", help="write the table here (default: CSV on stdout)")
    p.add_argument("--force", action="store_true", help="replace an existing OUT.csv")
    p.add_argument("--reports", metavar="DIR", help="folder of run folders (default: reports/ of the repository)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("refresh-notebooks", help="re-execute notebooks/ in place (after an intended change)")
    p.set_defaults(func=cmd_refresh)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ecgnb`` and ``python -m ecgnb``; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except EcgnbError as err:
        say(f"error: {one_line(err)}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130
