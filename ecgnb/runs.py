"""Run folders: the files notebooks hand to each other, written atomically, named in one place.

A run folder (``reports/<name>/``) holds everything one run produced. Notebooks never
share kernel state: each reads what earlier notebooks wrote here, so any one of them can
be re-run alone.
"""

from __future__ import annotations

import html
import json
import os
import platform
import socket
import statistics
import subprocess
from datetime import datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ecgnb import config
from ecgnb.config import Config
from ecgnb.errors import EcgnbError

NOTEBOOKS = ("01_explore", "02_train", "03_threshold", "04_evaluate", "05_visualize")

PARAMS = "params.yaml"  # resolved parameters of the run (01 writes it, 02-05 read it)
DATA_INFO = "data.json"  # data source, fingerprint, split sizes (01)
SPLIT = "split.npz"  # the split arrays (01)
CHECKPOINT = "model.pt"  # state_dict + config + history + fingerprint (02)
HISTORY = "history.csv"  # one row per epoch (02)
LOSSES = "losses.csv"  # per-heartbeat reconstruction loss and its set (03)
THRESHOLD = "threshold.json"  # the chosen threshold and rule (03)
METRICS = "metrics.json"  # held-out and tutorial-protocol metrics (04)
FIGURES = "figures"  # PNG figures of every notebook
STATUS = "run.json"  # status, timings, versions (the CLI)


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

    A folder that already has parameters keeps them; asking for other values there is an
    error (start a new run folder instead), so a folder never mixes two configurations.
    """
    run_dir = Path(run_dir)
    saved = run_dir / PARAMS
    wanted = config.load([params_file] if params_file else [], overrides or {})
    if saved.is_file():
        existing = config.load([saved])
        asks_other = bool(overrides) or (params_file and Path(params_file).resolve() != saved.resolve())
        if asks_other and existing != wanted:
            diff = [f"{k}: {v!r} → {wanted.to_dict()[k]!r}" for k, v in existing.to_dict().items()
                    if wanted.to_dict()[k] != v]
            raise EcgnbError(f"{saved}: this run folder already holds other parameters ({'; '.join(diff)}); "
                             "use a new run folder or delete this one")
        return existing
    (run_dir / FIGURES).mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved, config.to_yaml(wanted))
    return wanted


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
    html_files = [p.name for p in sorted(run_dir.glob("*.html"))]
    status = effective_status(info) if info else "manual"  # manual: notebooks run by hand, no run.json
    failure = info.get("failure") or {}
    return {"name": run_dir.name, "dir": run_dir, "status": status, "failure": failure,
            "started_at": info.get("started_at"), "seconds": info.get("seconds"),
            "parameters": parameters or {}, "metrics": metrics, "html": html_files}


def run_folders(reports_dir: str | Path) -> list[Path]:
    """Every run folder under ``reports_dir``: a visible folder with run.json or params.yaml."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        return []
    return [p for p in sorted(reports_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".") and ((p / STATUS).is_file() or (p / PARAMS).is_file())]


# ---------------------------------------------------------------- tables: markdown and HTML

INDEX_PARAMS = ("embedding_dim", "epochs", "batch_size", "threshold_rule", "seed")
INDEX_METRICS = ("roc_auc", "pr_auc", "balanced_accuracy", "f1", "recall", "specificity")
SEED_STUDY_METRICS = ("roc_auc", "f1", "balanced_accuracy", *BASELINE_METRICS)  # plus the tutorial counts
MISSING = "–"


def fmt(value: Any) -> str:
    """A table cell: floats to 3 decimals, None as a dash."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def fmt_param(value: Any) -> str:
    """A parameter as YAML would write it (``null``, ``true``, ``0.0003``), never rounded."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def fmt_seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (cells are str()-ed; pipes escaped)."""
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)]) + "\n"


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], raw_columns: Sequence[str] = ()) -> str:
    """An HTML table via pandas; every cell escaped except those in ``raw_columns`` (links)."""
    import pandas as pd

    frame = pd.DataFrame([list(r) for r in rows], columns=list(headers), dtype=object)
    for column in frame.columns:
        if column not in raw_columns:
            frame[column] = frame[column].map(lambda v: html.escape(str(v)))
    return frame.to_html(index=False, escape=False, border=0, classes="runs")


def html_page(title: str, *parts: str) -> str:
    """A small standalone HTML page."""
    style = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
             "table.runs{border-collapse:collapse;font-size:0.9em}"
             "table.runs th,table.runs td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:right}"
             "table.runs th{background:#f3f3f3}table.runs td:first-child{text-align:left}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n" + "\n".join(parts)
            + "\n</body></html>\n")


def _status_cell(summary: Mapping[str, Any]) -> str:
    failure = summary["failure"]
    if summary["status"] in ("failed", "interrupted") and failure.get("notebook"):
        cell = f" [{failure['cell']}]" if failure.get("cell") is not None else ""
        return f"{summary['status']}: {failure['notebook']}{cell}"
    return summary["status"]


def _tutorial_cell(metrics: Mapping[str, Any], kind: str) -> str:
    got, total = metrics.get(f"tutorial_{kind}_correct"), metrics.get(f"tutorial_{kind}_total")
    return MISSING if got is None else f"{got}/{total}"


def index_rows(reports_dir: str | Path) -> tuple[list[str], list[list[Any]], list[list[tuple[str, str]]]]:
    """Headers, one row per run (newest first) and, per row, its notebook links (label, href)."""
    headers = ["run", "status", "started", *INDEX_PARAMS, *INDEX_METRICS,
               "tutorial normals", "tutorial anomalies", "seconds"]
    summaries = [run_summary(p) for p in run_folders(reports_dir)]
    summaries.sort(key=lambda s: (s["started_at"] or "", s["name"]), reverse=True)
    rows, links = [], []
    for s in summaries:
        started = (s["started_at"] or "")[:16].replace("T", " ") or MISSING
        rows.append([s["name"], _status_cell(s), started,
                     *(fmt_param(s["parameters"].get(k)) if s["parameters"] else MISSING for k in INDEX_PARAMS),
                     *(fmt(s["metrics"].get(k)) for k in INDEX_METRICS),
                     _tutorial_cell(s["metrics"], "normal"), _tutorial_cell(s["metrics"], "anomaly"),
                     fmt_seconds(s["seconds"])])
        links.append([(Path(h).stem.split("_")[0], f"{s['name']}/{h}") for h in s["html"]])
    return headers, rows, links


def write_index(reports_dir: str | Path) -> tuple[Path, Path]:
    """Write ``index.md`` and ``index.html`` listing every run folder; return both paths."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    headers, rows, links = index_rows(reports_dir)
    md_rows = [[*r, " ".join(f"[{label}]({href})" for label, href in ls) or MISSING] for r, ls in zip(rows, links)]
    html_rows = [[*r, " ".join(f'<a href="{html.escape(href)}">{html.escape(label)}</a>' for label, href in ls)
                  or MISSING] for r, ls in zip(rows, links)]
    note = (f"{len(rows)} run(s). Metrics are on the held-out test set; tutorial columns count test normals "
            "at or below the threshold and the first anomalies above it.")
    md = f"# ecgnb runs\n\n{note}\n\n" + markdown_table([*headers, "notebooks"], md_rows) if rows \
        else "# ecgnb runs\n\nNo runs yet: `ecgnb run`.\n"
    table = html_table([*headers, "notebooks"], html_rows, raw_columns=["notebooks"]) if rows \
        else "<p>No runs yet: <code>ecgnb run</code>.</p>"
    md_path, html_path = reports_dir / "index.md", reports_dir / "index.html"
    write_text_atomic(md_path, md)
    write_text_atomic(html_path, html_page("ecgnb runs", f"<p>{html.escape(note)}</p>" if rows else "", table))
    return md_path, html_path


# ---------------------------------------------------------------- comparing runs


def is_seed_study(parameters: Sequence[Mapping[str, Any]]) -> bool:
    """Two or more runs whose parameters are equal except ``seed``, which differs in each."""
    if len(parameters) < 2:
        return False
    rest = [{k: v for k, v in p.items() if k != "seed"} for p in parameters]
    return all(r == rest[0] for r in rest) and len({p.get("seed") for p in parameters}) == len(parameters)


def mean_std(values: Sequence[float]) -> str:
    """``mean ± std`` (sample std, n-1) to 3 decimals; a dash when a value is missing."""
    if not values or any(v is None for v in values):
        return MISSING
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {std:.3f}"


def compare_table(run_dirs: Sequence[str | Path]) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers (metric, then one column per run, plus ``mean ± std`` for a seed study), rows and notes.

    Rows: the parameters that differ, then status, key metrics (the baseline's last), tutorial counts, seconds.
    Notes: one line naming the parameters all runs share.
    """
    summaries = [run_summary(d) for d in run_dirs]
    params = [s["parameters"] for s in summaries]
    keys = list(dict.fromkeys(k for p in params for k in p))
    differ = [k for k in keys if len({json.dumps(p.get(k)) for p in params}) > 1]
    shared = [f"{k}={fmt_param(params[0].get(k))}" for k in keys if k not in differ]
    study = is_seed_study(params)
    names = [s["name"] for s in summaries]
    headers = ["", *names, *([f"mean ± std (n={len(names)})"] if study else [])]
    blank = [""] if study else []
    rows: list[list[str]] = [[k, *(fmt_param(p.get(k)) for p in params), *blank] for k in differ]
    rows.append(["status", *(_status_cell(s) for s in summaries), *blank])
    for key in (*KEY_METRICS, *BASELINE_METRICS):
        values = [s["metrics"].get(key) for s in summaries]
        if any(v is not None for v in values):
            summary = [mean_std(values) if key in SEED_STUDY_METRICS else ""] if study else []
            rows.append([key, *(fmt(v) for v in values), *summary])
    for kind in ("normal", "anomaly"):
        values = [s["metrics"].get(f"tutorial_{kind}_correct") for s in summaries]
        if any(v is not None for v in values):
            rows.append([f"tutorial {kind} correct", *(_tutorial_cell(s["metrics"], kind) for s in summaries),
                         *([mean_std(values)] if study else [])])
    rows.append(["seconds", *(fmt_seconds(s["seconds"]) for s in summaries), *([""] if study else [])])
    notes = [f"Same in all runs: {', '.join(shared)}."] if shared and len(summaries) > 1 else []
    return headers, rows, notes


def write_compare(run_dirs: Sequence[str | Path], out: str | Path, title: str) -> str:
    """Write the compare table as markdown to ``out`` (.md) and HTML next to it; return the markdown."""
    headers, rows, notes = compare_table(run_dirs)
    md = f"# {title}\n\n" + markdown_table(headers, rows) + "".join(f"\n{n}\n" for n in notes)
    out = Path(out)
    md_path, html_path = (out.with_suffix(".md"), out) if out.suffix == ".html" else (out, out.with_suffix(".html"))
    md_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(md_path, md)
    body = html_table(headers, rows) + "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    write_text_atomic(html_path, html_page(title, body))
    return md


# ---------------------------------------------------------------- executed notebooks

_NOISY_NOTEBOOK_KEYS = ("start_time", "end_time", "duration", "input_path", "output_path", "environment_variables")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean_notebook(path: str | Path, committed: bool = False) -> None:
    """Strip run noise from an executed notebook in place (atomically).

    Removes per-cell ``metadata.papermill`` and ``metadata.execution`` (timings), the
    notebook's papermill timings and absolute paths (its ``parameters`` stay, unless
    ``committed``: a notebook kept in git drops papermill's record entirely), widget state
    and widget views that have another representation. Outputs, execution counts and
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
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and len(data) > 1:
                del data[WIDGET_VIEW]
    write_text_atomic(path, nbformat.writes(nb) + "\n")
