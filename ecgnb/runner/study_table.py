"""The table of a study (``reports/NAME.md`` and ``.html``): one row per configuration, then one per run.

A configuration's row gives mean ± std (sample std) over its complete runs of the headline metrics
and the k-NN baseline's, the tutorial check and the mean run time, and links every run's report;
the runs table below gives each run's status (failed ones name their notebook and cell) and numbers.
"""

from __future__ import annotations

import html
import statistics
from pathlib import Path
from typing import Any, Mapping, Sequence

from ecgnb import atomic, runs
from ecgnb.runner import compare, pages, run_state
from ecgnb.runner.grid import PlannedRun

METRICS = compare.SEED_STUDY_METRICS  # roc_auc, f1, balanced_accuracy and the baseline's two
TUTORIAL = (("tutorial normals", "tutorial_normal_correct"), ("tutorial anomalies", "tutorial_anomaly_correct"))
REPORT = "04_evaluate.html"  # the notebook with a run's metrics: its link where the run has no page


def summarise(folder: Path) -> dict[str, Any]:
    """``run_state.run_summary`` of a run folder, or a *not run* stand-in when there is none yet."""
    if folder.is_dir():
        return run_state.run_summary(folder)
    return {"name": folder.name, "dir": folder, "status": "not run", "failure": {}, "metrics": {}, "seconds": None}


def report_link(summary: Mapping[str, Any]) -> str | None:
    """The page a run's link opens, relative to the reports folder: the run's own page, else the notebook
    that failed, else its report (04_evaluate), else its first notebook; None when it has no HTML."""
    folder = Path(summary["dir"])
    candidates = [pages.RUN_PAGE, (summary["failure"] or {}).get("html"), REPORT,
                  *(f"{nb}.html" for nb in runs.NOTEBOOKS)]
    page = next((c for c in candidates if c and (folder / c).is_file()), None)
    return f"{summary['name']}/{page}" if page else None


def tables(planned: Sequence[PlannedRun], reports_dir: Path) -> tuple[list[str], list[list[Any]],
                                                                         list[str], list[list[Any]]]:
    """(configuration headers, rows, run headers, rows); link cells hold (label, href or None) pairs."""
    keys = [k for k, _ in planned[0].setting]
    summaries = {p.name: summarise(reports_dir / p.name) for p in planned}
    groups: dict[tuple, list[PlannedRun]] = {}
    for p in planned:
        groups.setdefault(p.setting, []).append(p)
    config_headers = [*keys, "complete", *METRICS, *(label for label, _ in TUTORIAL), "seconds", "runs"]
    config_rows = []
    for setting, members in groups.items():
        done = [summaries[p.name] for p in members if summaries[p.name]["status"] == "complete"]
        seconds = [s["seconds"] for s in done if s["seconds"] is not None]
        config_rows.append([
            *(pages.fmt_param(v) for _, v in setting), f"{len(done)}/{len(members)}",
            *(compare.mean_std([s["metrics"][m] for s in done if m in s["metrics"]])
              for m in (*METRICS, *(k for _, k in TUTORIAL))),
            pages.fmt_seconds(statistics.fmean(seconds)) if seconds else pages.MISSING,
            [(f"seed{p.cfg.seed}", report_link(summaries[p.name])) for p in members]])
    run_headers = ["run", *keys, "seed", "status", *METRICS, "seconds"]
    run_rows = [[[(p.name, report_link(summaries[p.name]))], *(pages.fmt_param(v) for _, v in p.setting), p.cfg.seed,
                 pages.status_text(summaries[p.name]), *(pages.fmt(summaries[p.name]["metrics"].get(m)) for m in METRICS),
                 pages.fmt_seconds(summaries[p.name]["seconds"])] for p in planned]
    return config_headers, config_rows, run_headers, run_rows


def as_markdown(cell: Any) -> Any:
    if not isinstance(cell, list):
        return cell
    return " ".join(f"[{label}]({href})" if href else label for label, href in cell)


def as_html(cell: Any) -> Any:
    """A link cell as :class:`pages.Html` (links, labels of runs without a page as text); others as they are."""
    if not isinstance(cell, list):
        return cell
    return pages.Html(" ".join(pages.link(label, href) if href else html.escape(label) for label, href in cell))


def write(study: str, planned: Sequence[PlannedRun], reports_dir: Path) -> str:
    """Write ``reports_dir/STUDY.md`` and ``.html``; return the markdown."""
    config_headers, config_rows, run_headers, run_rows = tables(planned, reports_dir)
    seeds = len(planned) // len(config_rows)
    note = (f"{len(config_rows)} configuration(s) × {seeds} seed(s). Metrics on the held-out test set, mean ± std "
            "(sample std) over each configuration's complete runs; tutorial columns count test normals at or "
            "below the threshold and the first 145 anomalies above it; seconds: mean run time.")
    title = f"Study {study}"
    md = (f"# {title}\n\n{note}\n\n"
          + pages.markdown_table(config_headers, [[as_markdown(c) for c in r] for r in config_rows])
          + "\n## Runs\n\n" + pages.markdown_table(run_headers, [[as_markdown(c) for c in r] for r in run_rows]))
    page = pages.html_page(title, f"<p>{html.escape(note)}</p>",
                          pages.html_table(config_headers, [[as_html(c) for c in r] for r in config_rows]),
                          "<h2>Runs</h2>",
                          pages.html_table(run_headers, [[as_html(c) for c in r] for r in run_rows]))
    atomic.write_text(reports_dir / f"{study}.md", md)
    atomic.write_text(reports_dir / f"{study}.html", page)
    return md
