"""Tables over chosen runs (``ecgnb compare``): the parameters that differ, each run's status, key metrics
and seconds side by side, as markdown and HTML; for a seed study (runs equal but for their seed) a
``mean ± std`` column too, the same summary a study's table gives per configuration.
"""

from __future__ import annotations

import html
import json
import os
import statistics
from pathlib import Path
from typing import Any, Mapping, Sequence

from ecgnb import atomic
from ecgnb.runner import pages, run_state

SEED_STUDY_METRICS = ("roc_auc", "f1", "balanced_accuracy", *run_state.BASELINE_METRICS)  # plus the tutorial counts


def is_seed_study(parameters: Sequence[Mapping[str, Any]]) -> bool:
    """Two or more runs whose parameters are equal except ``seed``, which differs in each."""
    if len(parameters) < 2:
        return False
    rest = [{k: v for k, v in p.items() if k != "seed"} for p in parameters]
    return all(r == rest[0] for r in rest) and len({p.get("seed") for p in parameters}) == len(parameters)


def mean_std(values: Sequence[float | None]) -> str:
    """``mean ± std`` (sample std, n-1) to 3 decimals; one value alone; a dash for none or a missing one."""
    if not values or any(v is None for v in values):
        return pages.MISSING
    if len(values) == 1:
        return pages.fmt(float(values[0]))
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}"


def compare_table(run_dirs: Sequence[str | Path]) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers (metric, then one column per run, plus ``mean ± std`` for a seed study), rows and notes.

    Rows: the parameters that differ, then status, key metrics (the baseline's last), tutorial counts, seconds.
    Notes: one line naming the parameters all runs share.
    """
    summaries = [run_state.run_summary(d) for d in run_dirs]
    params = [s["parameters"] for s in summaries]
    keys = list(dict.fromkeys(k for p in params for k in p))
    differ = [k for k in keys if len({json.dumps(p.get(k)) for p in params}) > 1]
    shared = [f"{k}={pages.fmt_param(params[0].get(k))}" for k in keys if k not in differ]
    study = is_seed_study(params)
    names = [s["name"] for s in summaries]
    headers = ["", *names, *([f"mean ± std (n={len(names)})"] if study else [])]
    blank = [""] if study else []
    rows: list[list[str]] = [[k, *(pages.fmt_param(p.get(k)) for p in params), *blank] for k in differ]
    rows.append(["status", *(pages.status_text(s) for s in summaries), *blank])
    for key in (*run_state.KEY_METRICS, *run_state.BASELINE_METRICS):
        values = [s["metrics"].get(key) for s in summaries]
        if any(v is not None for v in values):
            summary = [mean_std(values) if key in SEED_STUDY_METRICS else ""] if study else []
            rows.append([key, *(pages.fmt(v) for v in values), *summary])
    for kind in ("normal", "anomaly"):
        values = [s["metrics"].get(f"tutorial_{kind}_correct") for s in summaries]
        if any(v is not None for v in values):
            rows.append([f"tutorial {kind} correct", *(pages.tutorial_cell(s["metrics"], kind) for s in summaries),
                         *([mean_std(values)] if study else [])])
    rows.append(["seconds", *(pages.fmt_seconds(s["seconds"]) for s in summaries), *([""] if study else [])])
    notes = [f"Same in all runs: {', '.join(shared)}."] if shared and len(summaries) > 1 else []
    return headers, rows, notes


def relative_href(target: Path, page_dir: Path) -> str:
    """``target`` as a link from a page in ``page_dir`` (forward slashes, relative)."""
    return Path(os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())).as_posix()


def write_compare(run_dirs: Sequence[str | Path], out: str | Path, title: str) -> str:
    """Write the compare table as markdown to ``out`` (.md) and HTML next to it; return the markdown.

    In the HTML each run's name links its page, relative to where the page is written.
    """
    headers, rows, notes = compare_table(run_dirs)
    md = f"# {title}\n\n" + pages.markdown_table(headers, rows) + "".join(f"\n{n}\n" for n in notes)
    out = Path(out)
    md_path, html_path = (out.with_suffix(".md"), out) if out.suffix == ".html" else (out, out.with_suffix(".html"))
    md_path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(md_path, md)
    run_pages = [Path(d) / pages.RUN_PAGE for d in run_dirs]
    linked = [pages.link(name, relative_href(page, html_path.parent)) if page.is_file() else name
              for name, page in zip(headers[1:], run_pages)]
    html_headers = ["", *linked, *headers[1 + len(run_dirs):]]
    body = pages.html_table(html_headers, [[pages.breakable(r[0]), *r[1:]] for r in rows]) + "".join(
        f'<p class="note">{html.escape(n)}</p>' for n in notes)
    atomic.write_text(html_path, pages.html_page(title, body))
    return md
