"""Run folders: the files notebooks hand to each other, written atomically, named in one place.

A run folder (``reports/<name>/``) holds everything one run produced. Notebooks never
share kernel state: each reads what earlier notebooks wrote here, so any one of them can
be re-run alone.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from datetime import datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

from ecgnb import config
from ecgnb.config import Config
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


def path(run_dir: str | Path, name: str) -> Path:
    """Path of one artifact inside a run folder."""
    return Path(run_dir) / name


def write_text_atomic(target: str | Path, text: str) -> None:
    """Write ``text`` so readers see the old file or the whole new one, never a half."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(target: str | Path, data: Mapping[str, Any]) -> None:
    """Atomic, pretty JSON."""
    write_text_atomic(target, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(source: str | Path, made_by: str = "an earlier notebook") -> dict[str, Any]:
    """Read a JSON artifact; a missing file says which notebook makes it."""
    source = Path(source)
    if not source.is_file():
        raise EcgnbError(f"{source}: not found; run {made_by} for this run folder first")
    return json.loads(source.read_text())


def open_run(run_dir: str | Path, params_file: str | Path | None = None,
             overrides: Mapping[str, Any] | None = None) -> Config:
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
            return existing
        diff = [f"{k}: {v!r} → {wanted.to_dict()[k]!r}" for k, v in existing.to_dict().items()
                if wanted.to_dict()[k] != v]
        removed = start_over(run_dir)
        print(f"new parameters ({'; '.join(diff)}): this run starts over; removed what the old ones produced "
              f"({', '.join(removed) or 'nothing yet'})")
    (run_dir / FIGURES).mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved, config.to_yaml(wanted))
    return wanted


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


def load_config(run_dir: str | Path) -> Config:
    """The parameters a run folder was started with (written by 01_explore or the CLI)."""
    saved = Path(run_dir) / PARAMS
    if not saved.is_file():
        raise EcgnbError(f"{saved}: not found; run 01_explore for this run folder first")
    return config.load([saved])


# ---------------------------------------------------------------- the repository


def repo_root() -> Path:
    """The folder holding ``notebooks/`` and ``params/``: next to the package, else the cwd or a parent."""
    here = Path(__file__).resolve().parent.parent
    cwd = Path.cwd().resolve()
    for candidate in (here, cwd, *cwd.parents):
        if (candidate / "notebooks").is_dir() and (candidate / "params").is_dir():
            return candidate
    raise EcgnbError(f"cannot find the ecgnb repository (a folder holding notebooks/ and params/) next to {here} "
                     "or above the current folder; run from a checkout of ecgnb")


# ---------------------------------------------------------------- run.json: status of one run

RUN_STATES = ("running", "complete", "failed", "interrupted")  # what run.json stores
INCOMPLETE = "incomplete"  # shown for a run.json that says running while its process is gone
VERSION_OF = ("ecgnb", "torch", "numpy", "pandas", "papermill", "nbconvert", "nbformat")


def now_iso() -> str:
    """Local time with its UTC offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def versions() -> dict[str, str | None]:
    """Python and the installed versions of the packages a run depends on (None: not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for dist in VERSION_OF:
        try:
            found[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            found[dist] = None
    return found


def git_info(root: str | Path) -> dict[str, Any]:
    """Commit and dirty flag of the checkout at ``root`` (None when git or a commit is missing)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(changes) if changes is not None else None}


def start_status(run_dir: str | Path, name: str, cfg: Config, notebooks: Sequence[str],
                 **extra: Any) -> dict[str, Any]:
    """Write the first run.json of a run: status running, this process, parameters, environment."""
    info: dict[str, Any] = {
        "name": name, "status": "running", "started_at": now_iso(), "finished_at": None, "seconds": None,
        "pid": os.getpid(), "host": socket.gethostname(), **extra,
        "parameters": cfg.to_dict(), "versions": versions(),
        "platform": platform.platform(), "git": git_info(repo_root_or_none() or "."),
        "notebooks": {nb: {"status": "pending", "seconds": None, "html": None} for nb in notebooks},
        "failure": None, "metrics": {},
    }
    write_json(Path(run_dir) / STATUS, info)
    return info


def repo_root_or_none() -> Path | None:
    """:func:`repo_root`, or None where there is none."""
    try:
        return repo_root()
    except EcgnbError:
        return None


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """The run.json of a run folder; a missing or unreadable one is a one-line error."""
    source = Path(run_dir) / STATUS
    if not source.is_file():
        raise EcgnbError(f"{source}: not found; this folder was not made by `ecgnb run`")
    try:
        return json.loads(source.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise EcgnbError(f"{source}: not valid JSON ({err}); delete the run folder and run again") from None


def update_status(run_dir: str | Path, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into run.json (atomically) and return the new content."""
    info = {**read_status(run_dir), **changes}
    write_json(Path(run_dir) / STATUS, info)
    return info


def update_notebook(run_dir: str | Path, notebook: str, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into one notebook's entry of run.json."""
    info = read_status(run_dir)
    info["notebooks"][notebook] = {**info["notebooks"].get(notebook, {}), **changes}
    write_json(Path(run_dir) / STATUS, info)
    return info


def finish_status(run_dir: str | Path, status: str, seconds: float, **changes: Any) -> dict[str, Any]:
    """The one transition out of ``running``: to complete, failed or interrupted."""
    if status not in RUN_STATES[1:]:
        raise ValueError(f"a run finishes as one of {', '.join(RUN_STATES[1:])}, not {status!r}")
    current = read_status(run_dir)["status"]
    if current != "running":
        raise EcgnbError(f"{Path(run_dir) / STATUS}: run is already {current}; cannot mark it {status}")
    return update_status(run_dir, status=status, finished_at=now_iso(), seconds=round(seconds, 1), **changes)


def process_alive(pid: int | None, host: str | None) -> bool:
    """Whether process ``pid`` still runs (True when it ran on another host: we cannot tell)."""
    if host and host != socket.gethostname():
        return True
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(info: Mapping[str, Any]) -> str:
    """run.json's status, except ``incomplete`` for a running run whose process is gone."""
    status = str(info.get("status", "unknown"))
    if status == "running" and not process_alive(info.get("pid"), info.get("host")):
        return INCOMPLETE
    return status


# ---------------------------------------------------------------- metrics worth a column

KEY_METRICS = ("roc_auc", "pr_auc", "balanced_accuracy", "f1", "recall", "specificity", "threshold")
TUTORIAL_KEYS = ("normal_correct", "normal_total", "anomaly_correct", "anomaly_total")
BASELINE_KEYS = ("roc_auc", "balanced_accuracy")  # of the k-NN baseline, as baseline_<key>
BASELINE_METRICS = tuple(f"baseline_{k}" for k in BASELINE_KEYS)


def key_metrics(metrics: Mapping[str, Any]) -> dict[str, float | int]:
    """The headline numbers of 04_evaluate's metrics.json, flat: ``held_out`` KEY_METRICS,
    ``tutorial_*`` counts and ``baseline_*`` (BASELINE_KEYS of the baseline's held-out metrics).

    Missing keys (an older or partial file) are left out, never guessed from elsewhere.
    """
    held_out, tutorial = metrics.get("held_out") or {}, metrics.get("tutorial") or {}
    baseline = (metrics.get("baseline") or {}).get("held_out") or {}
    out: dict[str, float | int] = {k: float(held_out[k]) for k in KEY_METRICS if _is_number(held_out.get(k))}
    out.update({f"tutorial_{k}": int(tutorial[k]) for k in TUTORIAL_KEYS if _is_number(tutorial.get(k))})
    out.update({name: float(baseline[k]) for name, k in zip(BASELINE_METRICS, BASELINE_KEYS)
                if _is_number(baseline.get(k))})
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------- one run, summarised


def run_summary(run_dir: str | Path) -> dict[str, Any]:
    """What the index and compare tables show of one run folder (with or without run.json)."""
    run_dir = Path(run_dir)
    info = read_status(run_dir) if (run_dir / STATUS).is_file() else {}
    parameters = info.get("parameters")
    if parameters is None and (run_dir / PARAMS).is_file():
        try:
            parameters = load_config(run_dir).to_dict()
        except EcgnbError:
            parameters = None
    metrics = info.get("metrics") or {}
    if not metrics and (run_dir / METRICS).is_file():
        try:
            metrics = key_metrics(json.loads((run_dir / METRICS).read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            metrics = {}
    status = effective_status(info) if info else "manual"  # manual: notebooks run by hand, no run.json
    failure = info.get("failure") or {}
    return {"name": run_dir.name, "dir": run_dir, "status": status, "failure": failure,
            "started_at": info.get("started_at"), "seconds": info.get("seconds"),
            "parameters": parameters or {}, "metrics": metrics}


def run_folders(reports_dir: str | Path) -> list[Path]:
    """Every run folder under ``reports_dir``: a visible folder with run.json or params.yaml."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        return []
    return [p for p in sorted(reports_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".") and ((p / STATUS).is_file() or (p / PARAMS).is_file())]


# ---------------------------------------------------------------- executed notebooks

_NOISY_NOTEBOOK_KEYS = ("start_time", "end_time", "duration", "input_path", "output_path", "environment_variables")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean_notebook(path: str | Path, committed: bool = False, run_dir: str | Path | None = None) -> None:
    """Strip run noise and this machine's paths from an executed notebook in place (atomically).

    Removes per-cell ``metadata.papermill`` and ``metadata.execution`` (timings), the
    notebook's papermill timings and absolute paths (its ``parameters`` stay, unless
    ``committed``: a notebook kept in git drops papermill's record entirely), widget state
    and widget views that have another representation. In outputs (tracebacks, warnings) the
    paths of :func:`machine_paths` become short names. Outputs, execution counts and
    papermill's error cells stay.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    if committed:
        nb.metadata.pop("papermill", None)
    for key in _NOISY_NOTEBOOK_KEYS:
        nb.metadata.get("papermill", {}).pop(key, None)
    aliases = machine_paths(run_dir if run_dir is not None else path.parent)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and len(data) > 1:
                del data[WIDGET_VIEW]
            _replace_paths(output, aliases)
    write_text_atomic(path, nbformat.writes(nb) + "\n")


def machine_paths(run_dir: str | Path) -> list[tuple[str, str]]:
    """Absolute paths of this machine that an output may print, longest first, each with its short name:
    the run folder ``.``, the repository ``<ecgnb>``, the Python installation ``<python>``, the home folder ``~``.
    """
    named = [(Path(run_dir).resolve(), "."), (repo_root_or_none(), "<ecgnb>"), (Path(sys.prefix), "<python>"),
             (Path(sys.base_prefix), "<python>"), (Path.home(), "~")]
    pairs = {str(p): name for p, name in reversed(named) if p is not None and len(Path(p).parts) > 1}
    return sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)


def hide_paths(text: str, aliases: Sequence[tuple[str, str]]) -> str:
    """``text`` with each path of ``aliases`` (see :func:`machine_paths`) replaced by its short name."""
    for long, short in aliases:
        text = text.replace(long, short)
    return text


def _replace_paths(output: Any, aliases: Sequence[tuple[str, str]]) -> None:
    """Replace each path by its name in an output's text, data and traceback (in place)."""
    def scrub(text: str) -> str:
        return hide_paths(text, aliases)

    if isinstance(output.get("text"), str):
        output["text"] = scrub(output["text"])
    if "traceback" in output:
        output["traceback"] = [scrub(line) for line in output["traceback"]]
    if "evalue" in output:
        output["evalue"] = scrub(output["evalue"])
    for mime, value in output.get("data", {}).items():
        if isinstance(value, str) and mime.startswith("text/"):
            output["data"][mime] = scrub(value)
