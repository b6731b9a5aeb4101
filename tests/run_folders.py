"""Test helpers: run folders as `ecgnb run` leaves them (without executing anything), and a link checker."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ecgnb import atomic, config, runs
from ecgnb.config import Config
from ecgnb.runner import run_state

METRICS_04 = {  # the layout 04_evaluate writes
    "threshold_rule": "val_best_f1",
    "held_out": {"threshold": 24.5, "roc_auc": 0.97, "pr_auc": 0.98, "balanced_accuracy": 0.93, "f1": 0.95,
                 "recall": 0.94, "specificity": 0.92, "accuracy": 0.94,
                 "per_class": {"PVC": {"detected": 70, "total": 77, "rate": 0.9, "ci95": [0.8, 0.95]}}},
    "tutorial": {"normal_correct": 142, "normal_total": 145, "anomaly_correct": 143, "anomaly_total": 145},
    "baseline": {"method": "5-NN distance", "held_out": {"roc_auc": 0.96, "balanced_accuracy": 0.91, "f1": 0.9},
                 "tutorial": {"normal_correct": 140}},
}


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_run(reports: Path, name: str, status: str, cfg: Config = Config(), metrics: dict | None = None,
             failure: dict | None = None, figures: tuple[str, ...] = ()) -> Path:
    """A run folder as `ecgnb run` leaves it, without executing anything: two notebooks' HTML,
    ``metrics`` as metrics.json, an (empty) PNG per name in ``figures``."""
    run_dir = reports / name
    (run_dir / runs.FIGURES).mkdir(parents=True)
    atomic.write_text(run_dir / runs.PARAMS, config.to_yaml(cfg))
    notebooks = run_state.start_status(run_dir, name, cfg, runs.NOTEBOOKS)["notebooks"]
    for nb in runs.NOTEBOOKS[:2]:
        (run_dir / f"{nb}.html").write_text("<html></html>")
        notebooks[nb] = {"status": "done", "seconds": 1.25, "html": f"{nb}.html"}
    run_state.update_status(run_dir, notebooks=notebooks)
    if metrics:
        runs.write_json(run_dir / runs.METRICS, metrics)
    for figure in figures:
        (run_dir / runs.FIGURES / f"{figure}.png").write_bytes(b"")
    if status == "incomplete":
        run_state.update_status(run_dir, pid=dead_pid())
    elif status != "running":
        run_state.finish_status(run_dir, status, 12.34, metrics=run_state.key_metrics(metrics or {}), failure=failure)
    return run_dir


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("href", "src") and value is not None]


def links(page: Path) -> list[str]:
    """Every href and src of an HTML page."""
    parser = _Links()
    parser.feed(page.read_text())
    return parser.found


def broken_links(page: Path) -> list[str]:
    """The links of ``page`` that are absolute local paths or point at no file (external URLs skipped)."""
    bad = []
    for href in links(page):
        parts = urlsplit(href)
        if parts.scheme in ("http", "https", "mailto", "data") or href.startswith("#"):
            continue
        if parts.scheme or href.startswith("/") or not (page.parent / unquote(parts.path)).exists():
            bad.append(href)
    return bad
