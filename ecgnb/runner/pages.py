"""Report pages: the cells and tables every page is built from, the index of all runs and one page per run.

Every page is plain HTML (and markdown for the tables) with relative links only, so a
reports folder, or one run folder, can be moved or zipped and still opens. The run folders
and their files are :mod:`ecgnb.runs`' business; this module only reads them. The tables over
several runs build on these cells: :mod:`ecgnb.runner.compare` and :mod:`ecgnb.runner.study_table`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ecgnb import atomic, config, runs
from ecgnb.runner import places, run_state

RUN_PAGE = "index.html"  # each run folder's landing page

INDEX_PARAMS = ("embedding_dim", "epochs", "batch_size", "threshold_rule", "seed")
INDEX_METRICS = ("roc_auc", "balanced_accuracy", "f1")
MISSING = "–"

METRIC_NAMES = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "balanced_accuracy": "balanced accuracy", "f1": "F1",
                "recall": "recall", "specificity": "specificity", "precision": "precision",
                "threshold": "threshold (each on its own score)"}
# (figure file, caption, the notebook that draws it): the figures a reader looks at first
KEY_FIGURES = (
    ("roc_pr", "ROC and precision-recall curves on the test set", "04_evaluate"),
    ("loss_distributions", "anomaly scores of the validation beats and the chosen threshold", "03_threshold"),
    ("history", "training and validation loss per epoch", "02_train"),
    ("confusion", "test beats by truth and prediction", "04_evaluate"),
    ("hardest", "the test beats the detector finds hardest", "05_visualize"),
    ("recording_evidence", "each beat of the recording by its timing and its shape", "06_recording"),
    ("recording_flagged", "the flagged beats over the recording's typical beat", "06_recording"),
)


# ---------------------------------------------------------------- cells and tables


class Html(str):
    """Text that is already HTML (a link): written into a page as it is, never escaped again."""


def cell(value: Any) -> str:
    """A value as HTML: escaped unless it is :class:`Html`."""
    return value if isinstance(value, Html) else html.escape(str(value))


def link(label: str, href: str) -> Html:
    return Html(f'<a href="{html.escape(href)}">{html.escape(label)}</a>')


def breakable(name: str) -> Html:
    """``threshold_rule`` that may wrap after each underscore in a narrow column."""
    return Html("_<wbr>".join(html.escape(part) for part in str(name).split("_")))


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


def markdown_table(headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (cells are str()-ed; pipes escaped)."""
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)]) + "\n"


def html_table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], css: str = "runs",
               wrap: Sequence[int] = ()) -> str:
    """An HTML table; every header and cell escaped unless it is :class:`Html`. Cells stay on one line,
    except in the columns numbered in ``wrap``."""
    head = "".join(f"<th>{cell(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f'<td class="wrap">{cell(c)}</td>' if i in wrap else f"<td>{cell(c)}</td>"
                                       for i, c in enumerate(row)) + "</tr>" for row in rows)
    return (f'<div class="scroll"><table class="{css}">\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody></table></div>")


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:1200px;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0.2em}h2{font-size:1.2em;margin-top:1.6em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:0.9em}
th,td{border:1px solid #ccc;padding:0.3em 0.5em;text-align:right;vertical-align:top;white-space:nowrap}
th{background:#f3f3f3;font-weight:600;white-space:normal}td.wrap{white-space:normal}
td:first-child,th:first-child{text-align:left}table.index :is(td,th):nth-child(2){text-align:left}
.note{color:#555}.failed{color:#a00}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1.2em}
figure{margin:0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:0.9em;color:#555}
"""


def html_page(title: str, *parts: str) -> str:
    """A small standalone HTML page (no external files)."""
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{STYLE}</style></head>\n<body>\n'
            f"<h1>{html.escape(title)}</h1>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n")


def status_text(summary: Mapping[str, Any]) -> str:
    """A run's status as a table cell shows it, short (``failed: 02_train [5]``); the whole line, error
    included, is :func:`run_state.failure_line` (the run's page)."""
    failure = summary["failure"]
    if summary["status"] in ("failed", "interrupted") and failure.get("notebook"):
        cell_no = f" [{failure['cell']}]" if failure.get("cell") is not None else ""
        return f"{summary['status']}: {failure['notebook']}{cell_no}"
    return summary["status"]


def started_text(summary: Mapping[str, Any]) -> str:
    """When a run started, to the minute (``2024-05-01 14:03``); empty when unknown."""
    return (summary["started_at"] or "")[:16].replace("T", " ")


def tutorial_check(metrics: Mapping[str, Any]) -> str:
    """``normals correct/total · anomalies correct/total`` of the tutorial's check."""
    parts = [tutorial_cell(metrics, kind) for kind in ("normal", "anomaly")]
    return MISSING if all(p == MISSING for p in parts) else " · ".join(parts)


def tutorial_cell(metrics: Mapping[str, Any], kind: str) -> str:
    got, total = metrics.get(f"tutorial_{kind}_correct"), metrics.get(f"tutorial_{kind}_total")
    return MISSING if got is None else f"{got}/{total}"


# ---------------------------------------------------------------- the index of all runs


def index_rows(reports_dir: str | Path) -> tuple[list[str], list[dict[str, Any]], list[list[str]]]:
    """Headers, the run summaries (newest first) and one row of cell texts per run."""
    headers = ["run", "status", "started", *(k.replace("_", " ") for k in INDEX_PARAMS),
               *(METRIC_NAMES[k] for k in INDEX_METRICS), "k-NN ROC-AUC", "tutorial check", "seconds"]
    summaries = [run_state.run_summary(p) for p in places.run_folders(reports_dir)]
    summaries.sort(key=lambda s: (s["started_at"] or "", s["name"]), reverse=True)
    rows = []
    for s in summaries:
        rows.append([s["name"], status_text(s), started_text(s) or MISSING,
                     *(fmt_param(s["parameters"].get(k)) if s["parameters"] else MISSING for k in INDEX_PARAMS),
                     *(fmt(s["metrics"].get(k)) for k in INDEX_METRICS), fmt(s["metrics"].get("baseline_roc_auc")),
                     tutorial_check(s["metrics"]), fmt_seconds(s["seconds"])])
    return headers, summaries, rows


def write_index(reports_dir: str | Path) -> tuple[Path, Path]:
    """Write ``index.md`` and ``index.html`` listing every run folder (each name links its page); return both."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    headers, summaries, rows = index_rows(reports_dir)
    note = (f"{len(rows)} run(s), newest first. Metrics are on the held-out test set; k-NN is the baseline; the "
            "tutorial check counts test normals at or below the threshold and the first anomalies above it. "
            "Each run's page has its parameters, figures and notebooks.")
    pages = [s["dir"] / RUN_PAGE if (s["dir"] / RUN_PAGE).is_file() else None for s in summaries]
    md_rows = [[f"[{r[0]}]({s['name']}/{RUN_PAGE})" if page else r[0], *r[1:]]
               for r, s, page in zip(rows, summaries, pages)]
    rule = 3 + INDEX_PARAMS.index("threshold_rule")
    html_rows = [[link(r[0], f"{s['name']}/{RUN_PAGE}") if page else r[0], r[1], r[2].replace("-", "\u2011"),
                  *r[3:rule], breakable(r[rule]), *r[rule + 1:]]  # the date wraps before its time, not at a hyphen
                 for r, s, page in zip(rows, summaries, pages)]
    md = (f"# ecgnb runs\n\n{note}\n\n" + markdown_table(headers, md_rows) if rows
          else "# ecgnb runs\n\nNo runs yet: `ecgnb run`.\n")
    body = (f'<p class="note">{html.escape(note)}</p>\n' + html_table(headers, html_rows, "index", wrap=(0, 1, 2, rule, len(headers) - 2))
            if rows else "<p>No runs yet: <code>ecgnb run</code>.</p>")
    md_path, html_path = reports_dir / "index.md", reports_dir / "index.html"
    atomic.write_text(md_path, md)
    atomic.write_text(html_path, html_page("ecgnb runs", body))
    return md_path, html_path


# ---------------------------------------------------------------- one run's page


def differing_parameters(parameters: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(key, this run's value, the default) for each parameter that is not the default."""
    defaults = config.Config().to_dict()
    return [(k, fmt_param(v), fmt_param(defaults.get(k))) for k, v in parameters.items() if defaults.get(k) != v]


def metric_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    """metric | autoencoder | baseline, from 04_evaluate's metrics.json (what is there): the baseline's
    entry has the same shape, so both columns are :func:`run_state.key_metrics` of their part."""
    columns = [run_state.key_metrics(metrics), run_state.key_metrics(metrics.get("baseline") or {})]
    rows = [[METRIC_NAMES.get(k, k), *(fmt(c.get(k)) for c in columns)]
            for k in run_state.KEY_METRICS if k in columns[0]]
    for kind, label in (("normal", "tutorial check: normals"), ("anomaly", "tutorial check: anomalies")):
        cells = [tutorial_cell(c, kind) for c in columns]
        if any(c != MISSING for c in cells):
            rows.append([label, *cells])
    return rows


def write_run_page(run_dir: str | Path) -> Path:
    """Write ``run_dir/index.html``: status and timings, metrics beside the baseline's, parameters that
    differ from the defaults, the key figures, and links to the notebooks and files. Links stay inside the folder.
    """
    run_dir = Path(run_dir)
    summary = run_state.run_summary(run_dir)
    info = run_state.read_status(run_dir) if (run_dir / runs.STATUS).is_file() else {}
    parts = [_run_status(summary, info)]
    metrics = _read_metrics(run_dir)
    if metrics:
        method = (metrics.get("baseline") or {}).get("method", "baseline")
        held_out = metrics.get("held_out") or {}
        sizes = (f"{held_out['n_normal']:,} normal and {held_out['n_anomaly']:,} abnormal test beats; "
                 if {"n_normal", "n_anomaly"} <= set(held_out) else "")
        parts += ["<h2>Results on the held-out test set</h2>",
                  f'<p class="note">{html.escape(sizes)}threshold rule '
                  f'{html.escape(str(metrics.get("threshold_rule", MISSING)))}, the same rule for the baseline.</p>',
                  html_table(["", "autoencoder", method], metric_rows(metrics), css="metrics")]
    differ = differing_parameters(summary["parameters"])
    parts.append("<h2>Parameters that differ from the defaults</h2>")
    parts.append(html_table(["parameter", "this run", "default"], differ, css="params") if differ else
                 '<p class="note">None: every parameter has its default value (params/default.yaml).</p>')
    figures = [(name, caption, nb) for name, caption, nb in KEY_FIGURES
               if (run_dir / runs.FIGURES / f"{name}.png").is_file()]
    if figures:
        parts.append("<h2>Key figures</h2>\n<p class=\"note\">Click a figure for its full size.</p>\n"
                     "<div class=\"figures\">" + "\n".join(
            f'<figure><a href="{runs.FIGURES}/{name}.png"><img src="{runs.FIGURES}/{name}.png" '
            f'alt="{html.escape(caption)}"></a>'
            f"<figcaption>{html.escape(caption)} ({_notebook_link(run_dir, nb)})</figcaption></figure>"
            for name, caption, nb in figures) + "</div>")
    parts += ["<h2>Notebooks and files</h2>", _notebook_table(run_dir, info), _file_links(run_dir)]
    target = run_dir / RUN_PAGE
    atomic.write_text(target, html_page(f"ecgnb run {summary['name']}", *parts))
    return target


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / runs.METRICS).read_text())
    except (OSError, ValueError):
        return {}


def _run_status(summary: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    started = started_text(summary)
    facts = [f"<strong>{html.escape(summary['status'])}</strong>",
             *([f"started {html.escape(started)}"] if started else []),
             *([f"{summary['seconds']:.1f} s"] if summary["seconds"] is not None else [])]
    versions = info.get("versions") or {}
    if versions:
        facts.append(html.escape(", ".join(f"{k} {versions[k]}" for k in ("python", "torch", "ecgnb")
                                           if versions.get(k))))
    commit = (info.get("git") or {}).get("commit")
    if commit:
        facts.append(f"git {html.escape(commit[:10])}{' (uncommitted changes)' if info['git'].get('dirty') else ''}")
    out = f"<p>{' · '.join(facts)}</p>"
    failure = summary["failure"]
    if failure:  # the line `ecgnb run` says, from escaped parts: its "see" is a link to the failing notebook
        escaped = {k: v if v is None else html.escape(str(v)) for k, v in failure.items()}
        see = link(failure["html"], failure["html"]) if failure.get("html") else None
        out += f'<p class="failed">{run_state.failure_line(html.escape(summary["status"]), escaped, see)}</p>'
    return out


def _notebook_link(run_dir: Path, nb: str) -> str:
    return link(nb, f"{nb}.html") if (run_dir / f"{nb}.html").is_file() else html.escape(nb)


def _notebook_table(run_dir: Path, info: Mapping[str, Any]) -> str:
    notebooks = info.get("notebooks") or {p.stem: {} for p in sorted(run_dir.glob("*.ipynb"))}
    rows = [[Html(_notebook_link(run_dir, nb)), entry.get("status", MISSING), fmt_seconds(entry.get("seconds"))]
            for nb, entry in notebooks.items()]
    return html_table(["notebook", "status", "seconds"], rows, css="notebooks")


def _file_links(run_dir: Path) -> str:
    files = [name for name in (runs.METRICS, runs.BEATS, runs.PARAMS, runs.STATUS, runs.HISTORY, runs.THRESHOLD)
             if (run_dir / name).is_file()]
    return f"<p>Files: {' · '.join(link(name, name) for name in files)}</p>" if files else ""


def write_run_pages(reports_dir: str | Path) -> list[Path]:
    """The page of every run folder under ``reports_dir`` (``ecgnb index`` refreshes them all)."""
    return [write_run_page(d) for d in places.run_folders(reports_dir)]
