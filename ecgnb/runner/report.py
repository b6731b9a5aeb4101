"""The report pipeline: execute the notebooks into a run folder, render each as HTML, keep run.json.

    run()                 the five notebooks (or another folder's) into ``reports/NAME/``, one after another
    refresh_notebooks()   the committed notebooks re-executed in place, then recorded as the reference

Each notebook runs with papermill in the run folder, so every path it sees is relative; while one
trains, its progress records (``ecgnb.progress``) show below its line. A failed notebook keeps its
report, with the error at the failing cell; run.json, the run's page and the index say how far it got.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ecgnb import atomic, config, progress, runs
from ecgnb.runner import cache, clean, kernels, pages, places, run_state, watch
from ecgnb.config import Config
from ecgnb.errors import EcgnbError, one_line
from ecgnb.runner.messages import say

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# ---------------------------------------------------------------- the run folder and what the kernels see


def check_name(name: str) -> str:
    """A run name is one plain folder name."""
    if not NAME_PATTERN.fullmatch(name):
        raise EcgnbError(f"run name {name!r} must be letters, digits, '.', '_' or '-' (no '/', not starting "
                         "with '.'); pass another --name")
    return name


def notebook_list(notebooks_dir: Path | None, root: Path, cfg: Config) -> tuple[Path, list[str]]:
    """The folder and the notebooks to run: ``runs.notebooks_for(cfg)``, or every .ipynb of another folder."""
    folder = Path(notebooks_dir).resolve() if notebooks_dir else root / "notebooks"
    names = list(runs.notebooks_for(cfg)) if notebooks_dir is None else sorted(p.stem for p in folder.glob("*.ipynb"))
    missing = [n for n in names if not (folder / f"{n}.ipynb").is_file()]
    if missing or not names:
        raise EcgnbError(f"{folder}: notebook(s) {', '.join(missing) or '*.ipynb'} not found; "
                         "run from a complete ecgnb checkout")
    return folder, names


def prepare_run_dir(run_dir: Path, force: bool) -> None:
    """Refuse an existing run folder unless ``force``; never delete one whose run is still going."""
    if run_dir.exists():
        if not force:
            raise EcgnbError(f"{run_dir}: run folder exists; pass --force to replace it or choose another --name")
        if (run_dir / runs.STATUS).is_file():
            info = run_state.read_status(run_dir)
            if run_state.effective_status(info) == "running" and info.get("pid") != os.getpid():
                raise EcgnbError(f"{run_dir}: a run is still writing there (pid {info.get('pid')}); "
                                 "wait for it or choose another --name")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)


def kernel_paths(cfg: Config, run_dir: Path) -> tuple[Config, str | None]:
    """What the notebooks see of the paths a user gave, so that no absolute path reaches a report.

    ``checkpoint`` and ``recording`` become relative to the run folder, where the notebooks run (a run
    reusing another's model reads ``../other/model.pt``). ``data_path`` goes to the kernels as
    ``$ECGNB_DATA`` and is null in the run's parameters: where the data lay is no part of the result
    (``data.json`` records the files and their fingerprint). Returns the config and the data path (None when not given).
    """
    data = str(Path(cfg.data_path).resolve()) if cfg.data_path else None
    relative = {k: os.path.relpath(getattr(cfg, k), run_dir.resolve()) for k in ("checkpoint", "recording")
                if getattr(cfg, k)}
    return cfg.replace(data_path=None, **relative), data


def shown_path(path: Path, root: Path) -> str:
    """A params file as run.json records it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else path.name


def kernel_env(root: Path, progress_file: Path, data_path: str | None = None) -> dict[str, str | None]:
    """The kernels' environment: the repository first on PYTHONPATH (they run in the run folder), the
    file where training reports its progress, and the data when given; returns the old values for
    :func:`restore_env`."""
    from ecgnb.data import ENV_VAR as DATA_ENV_VAR

    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", progress.ENV_VAR, DATA_ENV_VAR)}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root), *([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else [])])
    os.environ[progress.ENV_VAR] = str(progress_file)
    if data_path:
        os.environ[DATA_ENV_VAR] = data_path
    return saved


def restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# ---------------------------------------------------------------- one notebook


def finish_notebook(output: Path, hide_code: bool) -> str | None:
    """Clean and render an executed copy if papermill wrote one; the HTML's name, or None."""
    if not output.is_file():
        return None
    clean.clean_notebook(output, run_dir=output.parent)
    return kernels.render_html(output, hide_code).name


def progress_line(step: str, nb: str) -> tuple[watch.Display, Callable[[str], None]]:
    """Start the line ``step nb …``; return the display for training progress (its lines go below
    this one) and ``outcome(text)``, which ends the line, naming step and notebook again after progress."""
    say(f"{step} {nb} … ", end="")
    display = watch.Display(sys.stderr, opening="\n")
    return display, lambda text: say(f"{step} {nb} {text}" if display.shown else text)


# ---------------------------------------------------------------- a whole run


def run(cfg: Config, name: str, *, reports_dir: Path, force: bool = False, hide_code: bool = False,
        notebooks_dir: Path | str | None = None, params_files: Sequence[Path] = (), command: Sequence[str] = (),
        use_cache: bool = True, study: Mapping[str, Any] | None = None) -> int:
    """Execute the notebooks into ``reports_dir/name``; return the exit code (0, 1 failed, 130 interrupted).
    run.json is written when the run starts and when it ends (``study``: the study and worker it ran for).
    With ``use_cache``, a notebook whose inputs equal an earlier execution's is copied (:mod:`ecgnb.runner.cache`); ``command``
    (without the leading ``ecgnb``) is recorded in run.json.

    User errors before anything is written raise :class:`EcgnbError`.
    """
    root = places.repo_root()
    check_name(name)
    folder, notebooks = notebook_list(Path(notebooks_dir) if notebooks_dir else None, root, cfg)
    run_dir = Path(reports_dir).resolve() / name
    prepare_run_dir(run_dir, force)
    (run_dir / runs.FIGURES).mkdir()
    cfg, data_path = kernel_paths(cfg, run_dir)
    atomic.write_text(run_dir / runs.PARAMS, config.to_yaml(cfg))
    entries = run_state.start_status(run_dir, name, cfg, notebooks, command=["ecgnb", *command],
                                     params_files=[shown_path(p, root) for p in params_files],
                                     hide_code=hide_code, **({"study": dict(study)} if study else {}))["notebooks"]
    say(f"run {name}: {len(notebooks)} notebooks → {run_dir}")
    saved_env = kernel_env(root, run_dir / runs.PROGRESS, data_path)
    start = time.perf_counter()
    started = kernels.Kernels(run_dir)
    try:
        paths = [folder / f"{nb}.ipynb" for nb in notebooks]
        for i, nb in enumerate(notebooks, 1):
            code = run_one(run_dir, folder, nb, f"[{i}/{len(notebooks)}]", entries, first=i == 1,
                           hide_code=hide_code, start=start, cfg=cfg, use_cache=use_cache,
                           kernel=functools.partial(started.take, paths[i - 1], paths[i] if i < len(paths) else None))
            if code:
                return code
    finally:
        started.close()
        restore_env(saved_env)
    metrics_file = run_dir / runs.METRICS
    metrics = run_state.key_metrics(runs.read_json(metrics_file)) if metrics_file.is_file() else {}
    run_state.finish_status(run_dir, "complete", time.perf_counter() - start, notebooks=entries, metrics=metrics)
    page = pages.write_run_page(run_dir)
    _, index_html = pages.write_index(run_dir.parent)
    headline = ", ".join(f"{k} {pages.fmt(metrics[k])}" for k in ("roc_auc", "f1", "balanced_accuracy")
                         if k in metrics)
    say(f"run {name} complete in {time.perf_counter() - start:.1f} s{': ' + headline if headline else ''}")
    say(f"report: {page}  all runs: {index_html}")
    return 0


def run_one(run_dir: Path, folder: Path, nb: str, step: str, entries: dict[str, dict[str, Any]], *, first: bool,
            hide_code: bool, start: float, cfg: Config, use_cache: bool = True,
            kernel: Callable[[], Any] | None = None) -> int:
    """Execute (in the run folder, so every path the notebook sees is relative), clean and render one
    notebook, showing training progress while it runs; record it in ``entries`` (run.json's notebooks, written
    when the run ends). 0, or the run's exit code.
    With ``use_cache``, a notebook whose inputs equal those of an earlier execution is copied from the
    cache (:mod:`ecgnb.runner.cache`), and one that runs is kept there for the next time. ``kernel`` gives the started
    kernel to execute in (:class:`Kernels`; None: papermill starts one)."""
    output = run_dir / f"{nb}.ipynb"
    parameters: dict[str, Any] = {"run_dir": "."}
    if first:
        parameters["params_file"] = runs.PARAMS
    display, outcome = progress_line(step, nb)
    t0 = time.perf_counter()
    digest = reused = None
    if use_cache:
        digest = cache.key(folder / f"{nb}.ipynb", parameters, cfg, run_dir)
        reused = cache.restore(digest, run_dir)
        if reused:
            seconds = time.perf_counter() - t0
            entries[nb] = {"status": "done", "seconds": round(seconds, 1), "html": f"{nb}.html", "reused": digest[:12]}
            outcome(f"copied in {seconds:.1f} s: its inputs are those of an earlier execution ({digest[:12]}); "
                    "--no-cache executes it")
            return 0
        before = cache.outputs(run_dir)
    kernels.skip_iri_format_check()
    from papermill.exceptions import PapermillExecutionError

    try:
        with watch.following(run_dir / runs.PROGRESS, display):
            kernels.execute(folder / f"{nb}.ipynb", output, parameters, run_dir, kernel)
    except KeyboardInterrupt:
        outcome("interrupted")
        return stop(run_dir, nb, entries, "interrupted", time.perf_counter() - t0, start, hide_code, cell=None,
                    error="KeyboardInterrupt", code=130)
    except PapermillExecutionError as err:
        outcome("failed")
        return stop(run_dir, nb, entries, "failed", time.perf_counter() - t0, start, hide_code, cell=err.exec_count,
                    error=one_line(f"{err.ename}: {err.evalue}" if err.evalue else err.ename), code=1)
    except Exception as err:  # noqa: BLE001 - a dead kernel, a timeout: the run failed, say why in one line
        outcome("failed")
        return stop(run_dir, nb, entries, "failed", time.perf_counter() - t0, start, hide_code, cell=None,
                    error=one_line(f"{type(err).__name__}: {err}"), code=1)
    seconds = time.perf_counter() - t0
    html_name = finish_notebook(output, hide_code)
    if digest is not None:
        cache.store(digest, run_dir, before)
    entries[nb] = {"status": "done", "seconds": round(seconds, 1), "html": html_name}
    outcome(f"done in {seconds:.1f} s")
    return 0


def stop(run_dir: Path, nb: str, entries: dict[str, dict[str, Any]], status: str, seconds: float, start: float,
         hide_code: bool, *, cell: int | None, error: str, code: int) -> int:
    """Record a failed or interrupted notebook: its report (if written), run.json, the run's page, the index,
    one line."""
    error = clean.hide_paths(error, clean.machine_paths(run_dir))  # run.json and the run's page travel too
    html_name = None
    try:
        html_name = finish_notebook(run_dir / f"{nb}.ipynb", hide_code)
    except Exception as err:  # noqa: BLE001 - the run already failed; say that first, the render second
        say(f"warning: could not render {nb}.html ({type(err).__name__}: {one_line(err)})")
    entries[nb] = {"status": status, "seconds": round(seconds, 1), "html": html_name}
    failure = {"notebook": nb, "cell": cell, "error": error, "html": html_name}
    run_state.finish_status(run_dir, status, time.perf_counter() - start, notebooks=entries, failure=failure)
    pages.write_run_page(run_dir)
    pages.write_index(run_dir.parent)
    say(f"error: {run_state.failure_line(status, failure, run_dir / html_name if html_name else None)}")
    return code


# ---------------------------------------------------------------- the committed notebooks


def refresh_notebooks(root: Path) -> int:
    """Re-execute the committed notebooks in place with their own defaults (run folder reports/lab),
    then record that run as the reference (notebooks/reference.json), which nbval's run is checked against."""
    from ecgnb.runner import reference

    folder = root / "notebooks"
    lab, recording = root / "reports" / "lab", root / "reports" / "lab-recording"
    for scratch in (lab, recording):  # the notebooks' own scratch runs: start them afresh with the current defaults
        if scratch.exists():
            shutil.rmtree(scratch)
    saved_env = kernel_env(root, lab / runs.PROGRESS)
    try:
        for i, nb in enumerate(runs.NOTEBOOKS, 1):
            refresh_notebook(folder / f"{nb}.ipynb", f"[{i}/{len(runs.NOTEBOOKS)}]", lab)
        refresh_notebook(folder / f"{runs.RECORDING_NOTEBOOK}.ipynb", "[recording]", recording)
        reference.write(lab, folder / reference.REFERENCE)
    finally:
        restore_env(saved_env)
    say(f"notebooks and {reference.REFERENCE} refreshed: review `git diff notebooks/`, then commit")
    return 0


def refresh_notebook(path: Path, step: str, run_dir: Path) -> None:
    """Execute one committed notebook in place with its own defaults (its run folder ``run_dir``),
    showing training progress, and clean it for git."""
    display, outcome = progress_line(step, path.stem)
    t0 = time.perf_counter()
    with watch.following(run_dir / runs.PROGRESS, display):
        kernels.execute(path, path, {}, path.parent)  # no parameters: papermill injects no cell
    clean.clean_notebook(path, committed=True, run_dir=run_dir)
    outcome(f"done in {time.perf_counter() - t0:.1f} s")
