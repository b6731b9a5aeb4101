"""run.json: the state of one run (running, then complete, failed or interrupted), its environment and its
headline metrics; and what the index and compare tables show of a run folder."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from datetime import datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

from ecgnb import runs
from ecgnb.config import Config
from ecgnb.errors import EcgnbError
from ecgnb.runner.places import repo_root_or_none


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
    runs.write_json(Path(run_dir) / runs.STATUS, info)
    return info


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """The run.json of a run folder; a missing or unreadable one is a one-line error."""
    source = Path(run_dir) / runs.STATUS
    if not source.is_file():
        raise EcgnbError(f"{source}: not found; this folder was not made by `ecgnb run`")
    try:
        return json.loads(source.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise EcgnbError(f"{source}: not valid JSON ({err}); delete the run folder and run again") from None


def update_status(run_dir: str | Path, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into run.json (atomically) and return the new content."""
    info = {**read_status(run_dir), **changes}
    runs.write_json(Path(run_dir) / runs.STATUS, info)
    return info


def finish_status(run_dir: str | Path, status: str, seconds: float, **changes: Any) -> dict[str, Any]:
    """The one transition out of ``running``: to complete, failed or interrupted."""
    if status not in RUN_STATES[1:]:
        raise ValueError(f"a run finishes as one of {', '.join(RUN_STATES[1:])}, not {status!r}")
    current = read_status(run_dir)["status"]
    if current != "running":
        raise EcgnbError(f"{Path(run_dir) / runs.STATUS}: run is already {current}; cannot mark it {status}")
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
    info = read_status(run_dir) if (run_dir / runs.STATUS).is_file() else {}
    parameters = info.get("parameters")
    if parameters is None and (run_dir / runs.PARAMS).is_file():
        try:
            parameters = runs.reopen(run_dir).config.to_dict()
        except EcgnbError:
            parameters = None
    metrics = info.get("metrics") or {}
    if not metrics and (run_dir / runs.METRICS).is_file():
        try:
            metrics = key_metrics(json.loads((run_dir / runs.METRICS).read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            metrics = {}
    status = effective_status(info) if info else "manual"  # manual: notebooks run by hand, no run.json
    failure = info.get("failure") or {}
    return {"name": run_dir.name, "dir": run_dir, "status": status, "failure": failure,
            "started_at": info.get("started_at"), "seconds": info.get("seconds"),
            "parameters": parameters or {}, "metrics": metrics}


def failure_line(status: str, failure: Mapping[str, Any], see: str | Path | None = None) -> str:
    """How a failed or interrupted run is told everywhere (the command, a study, the run's page):
    ``02_train failed at cell [5]: TrainingError: … (see …/02_train.html)``."""
    where = f" at cell [{failure['cell']}]" if failure.get("cell") is not None else ""
    return f"{failure.get('notebook') or 'the run'} {status}{where}: {failure.get('error')}" + (f" (see {see})" if see else "")

