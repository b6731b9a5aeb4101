"""ecgnb.runs: run folders, atomic files, run.json, the index, the compare table, clean notebooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ecgnb import config, runs
from ecgnb.config import Config
from ecgnb.errors import EcgnbError

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
             failure: dict | None = None) -> Path:
    """A run folder as `ecgnb run` leaves it, without executing anything."""
    run_dir = reports / name
    run_dir.mkdir(parents=True)
    runs.write_text_atomic(run_dir / runs.PARAMS, config.to_yaml(cfg))
    runs.start_status(run_dir, name, cfg, runs.NOTEBOOKS)
    for nb in runs.NOTEBOOKS[:2]:
        (run_dir / f"{nb}.html").write_text("<html></html>")
    if status == "incomplete":
        runs.update_status(run_dir, pid=dead_pid())
    elif status != "running":
        runs.finish_status(run_dir, status, 12.34, metrics=runs.key_metrics(metrics or {}), failure=failure)
    return run_dir


# ---------------------------------------------------------------- open_run, load_config, atomic files


def test_open_run_creates_params_and_reopens(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("epochs: 3\nseed: 5\n")
    run_dir = tmp_path / "run"
    cfg = runs.open_run(run_dir, params)
    assert (run_dir / runs.PARAMS).is_file() and (run_dir / runs.FIGURES).is_dir()
    assert (cfg.epochs, cfg.seed) == (3, 5)
    assert runs.open_run(run_dir, params) == cfg  # same file again
    assert runs.open_run(run_dir, run_dir / runs.PARAMS) == cfg  # its own params.yaml (the CLI's way)
    assert runs.open_run(run_dir) == cfg  # nothing asked: the saved parameters
    assert runs.load_config(run_dir) == cfg


def test_open_run_refuses_other_parameters(tmp_path):
    first, other = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("epochs: 3\n")
    other.write_text("epochs: 4\n")
    run_dir = tmp_path / "run"
    runs.open_run(run_dir, first)
    with pytest.raises(EcgnbError, match=r"already holds other parameters \(epochs: 3 → 4\)"):
        runs.open_run(run_dir, other)
    with pytest.raises(EcgnbError, match="already holds other parameters"):
        runs.open_run(run_dir, first, {"seed": 9})
    assert runs.load_config(run_dir).epochs == 3


def test_load_config_missing_says_what_to_run(tmp_path):
    with pytest.raises(EcgnbError, match=r"params\.yaml: not found; run 01_explore"):
        runs.load_config(tmp_path)


def test_read_json_missing_names_the_maker(tmp_path):
    with pytest.raises(EcgnbError, match="run 04_evaluate"):
        runs.read_json(tmp_path / runs.METRICS, made_by="04_evaluate")


def test_atomic_writes_leave_no_temp_files(tmp_path):
    runs.write_text_atomic(tmp_path / "a.txt", "one")
    runs.write_text_atomic(tmp_path / "a.txt", "two")
    runs.write_json(tmp_path / "b.json", {"x": 1})
    assert (tmp_path / "a.txt").read_text() == "two" and runs.read_json(tmp_path / "b.json") == {"x": 1}
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        runs.write_text_atomic(tmp_path / "dir", "cannot replace a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json", "dir"]


def test_repo_root_holds_notebooks_and_params():
    root = runs.repo_root()
    assert (root / "notebooks").is_dir() and (root / "params" / "default.yaml").is_file()


# ---------------------------------------------------------------- run.json


def test_status_lifecycle(tmp_path):
    info = runs.start_status(tmp_path, "r", Config(), ["01_a", "02_b"], hide_code=True)
    assert info["status"] == "running" and info["pid"] == os.getpid() and info["hide_code"] is True
    assert {"python", "torch", "numpy", "pandas", "papermill"} <= set(info["versions"])
    assert info["parameters"] == Config().to_dict()
    runs.update_notebook(tmp_path, "01_a", status="done", seconds=1.5, html="01_a.html")
    assert runs.effective_status(runs.read_status(tmp_path)) == "running"  # this process is alive
    done = runs.finish_status(tmp_path, "complete", 3.21, metrics={"roc_auc": 0.9})
    assert (done["status"], done["seconds"], done["notebooks"]["01_a"]["seconds"]) == ("complete", 3.2, 1.5)
    with pytest.raises(EcgnbError, match="already complete"):
        runs.finish_status(tmp_path, "failed", 1.0)
    with pytest.raises(ValueError):
        runs.finish_status(tmp_path, "running", 1.0)


def test_running_without_its_process_is_incomplete(tmp_path):
    runs.start_status(tmp_path, "r", Config(), ["01_a"])
    info = runs.update_status(tmp_path, pid=dead_pid())
    assert runs.effective_status(info) == runs.INCOMPLETE
    assert runs.effective_status({**info, "host": "another-machine"}) == "running"  # cannot tell: trust it


def test_read_status_errors(tmp_path):
    with pytest.raises(EcgnbError, match="not made by `ecgnb run`"):
        runs.read_status(tmp_path)
    (tmp_path / runs.STATUS).write_text("{broken")
    with pytest.raises(EcgnbError, match="not valid JSON"):
        runs.read_status(tmp_path)


# ---------------------------------------------------------------- metrics


def test_key_metrics_from_the_04_layout():
    got = runs.key_metrics(METRICS_04)
    assert got["roc_auc"] == 0.97 and got["threshold"] == 24.5 and got["specificity"] == 0.92
    assert (got["tutorial_normal_correct"], got["tutorial_anomaly_total"]) == (142, 145)
    assert "accuracy" not in got
    assert (got["baseline_roc_auc"], got["baseline_balanced_accuracy"]) == (0.96, 0.91)
    assert "baseline_f1" not in got and "baseline_tutorial_normal_correct" not in got


def test_key_metrics_read_only_the_held_out_and_tutorial_tables():
    layout = {"f1": 0.1, "val": {"f1": 0.2}, "held_out": {"f1": 0.8, "roc_auc": "n/a"}, "tutorial": {"normal_correct": 3}}
    assert runs.key_metrics(layout) == {"f1": 0.8, "tutorial_normal_correct": 3}
    assert runs.key_metrics({}) == {}


# ---------------------------------------------------------------- index


def test_index_lists_complete_failed_and_incomplete_runs(tmp_path):
    make_run(tmp_path, "good", "complete", Config(embedding_dim=32), METRICS_04)
    make_run(tmp_path, "broken", "failed", Config(epochs=3),
             failure={"notebook": "03_threshold", "cell": 5, "error": "ValueError: x", "html": "03_threshold.html"})
    make_run(tmp_path, "killed", "incomplete")
    (tmp_path / ".hidden.tmp-1").mkdir()  # not a run
    (tmp_path / "notes").mkdir()  # not a run either
    runs.open_run(tmp_path / "by-hand")  # notebooks run by hand: params.yaml, no run.json
    md_path, html_path = runs.write_index(tmp_path)
    md = md_path.read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert set(rows) == {"run", "---", "good", "broken", "killed", "by-hand"}
    assert "| manual |" in rows["by-hand"]
    assert "| complete |" in rows["good"] and "| 32 |" in rows["good"] and "| 0.970 |" in rows["good"]
    assert "142/145" in rows["good"] and "| 12.3 |" in rows["good"]
    assert "failed: 03_threshold [5]" in rows["broken"]
    assert "| incomplete |" in rows["killed"]
    assert "[01](good/01_explore.html)" in rows["good"]
    page = html_path.read_text()
    assert '<a href="good/02_train.html">02</a>' in page
    assert "failed: 03_threshold [5]" in page and "incomplete" in page


def test_index_of_an_empty_folder(tmp_path):
    md_path, html_path = runs.write_index(tmp_path / "reports")
    assert "No runs yet" in md_path.read_text() and html_path.is_file()


def test_tables_escape_what_they_must():
    assert runs.markdown_table(["a", "b"], [["x|y", 1]]).splitlines() == ["| a | b |", "| --- | --- |",
                                                                          "| x\\|y | 1 |"]
    page = runs.html_table(["name", "link"], [["<b>", '<a href="x">x</a>']], raw_columns=["link"])
    assert "&lt;b&gt;" in page and '<a href="x">x</a>' in page


# ---------------------------------------------------------------- compare


def test_compare_shows_differing_parameters_and_metrics(tmp_path):
    a = make_run(tmp_path, "a", "complete", Config(embedding_dim=32, lr=3e-4), METRICS_04)
    b = make_run(tmp_path, "b", "complete", Config(embedding_dim=64, lr=3e-3), METRICS_04)
    headers, rows, notes = runs.compare_table([a, b])
    assert headers == ["", "a", "b"]
    table = {r[0]: r[1:] for r in rows}
    assert table["embedding_dim"] == ["32", "64"] and table["lr"] == ["0.0003", "0.003"]
    assert "seed" not in table and table["roc_auc"] == ["0.970", "0.970"]
    assert table["tutorial normal correct"] == ["142/145", "142/145"]
    assert notes and "seed=42" in notes[0]
    md = runs.write_compare([a, b], tmp_path / "cmp.md", "Compare a, b")
    assert md.startswith("# Compare a, b") and (tmp_path / "cmp.html").is_file()


def test_compare_of_a_seed_study_adds_mean_and_std(tmp_path):
    dirs = []
    for seed, auc, anomalies in [(1, 0.8, 140), (2, 0.9, 142), (3, 1.0, 144)]:
        metrics = {"held_out": {**METRICS_04["held_out"], "roc_auc": auc},
                   "tutorial": {**METRICS_04["tutorial"], "anomaly_correct": anomalies},
                   "baseline": {"held_out": {"roc_auc": auc - 0.1, "balanced_accuracy": 0.9}}}
        dirs.append(make_run(tmp_path, f"s-seed{seed}", "complete", Config(seed=seed), metrics))
    headers, rows, _ = runs.compare_table(dirs)
    assert headers[-1] == "mean ± std (n=3)"
    table = {r[0]: r[1:] for r in rows}
    assert table["seed"] == ["1", "2", "3", ""]
    assert table["roc_auc"][-1] == "0.900 ± 0.100"
    assert table["f1"][-1] == "0.950 ± 0.000"
    assert table["tutorial anomaly correct"][-1] == "142.000 ± 2.000"
    assert table["pr_auc"][-1] == ""  # mean ± std only for the headline metrics
    assert table["baseline_roc_auc"] == ["0.700", "0.800", "0.900", "0.800 ± 0.100"]
    assert table["baseline_balanced_accuracy"][-1] == "0.900 ± 0.000"


def test_not_a_seed_study_when_more_than_the_seed_differs(tmp_path):
    a = make_run(tmp_path, "a", "complete", Config(seed=1), METRICS_04)
    b = make_run(tmp_path, "b", "complete", Config(seed=2, epochs=3), METRICS_04)
    assert not any("mean" in h for h in runs.compare_table([a, b])[0])
    assert not runs.is_seed_study([{"seed": 1}, {"seed": 1}])


# ---------------------------------------------------------------- clean_notebook


def test_clean_notebook_strips_run_metadata(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "t0", "end_time": "t1", "duration": 3.0, "input_path": "/a",
                                "output_path": "/b", "parameters": {"run_dir": "/r"}, "exception": None}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    cell = nbformat.v4.new_code_cell("print(1)", execution_count=3)
    cell.metadata.update({"papermill": {"duration": 0.1, "status": "completed"}, "tags": ["parameters"],
                          "execution": {"iopub.status.busy": "2024-01-01T00:00:00Z"}})
    cell.outputs = [nbformat.v4.new_output("stream", text="1\n"),
                    nbformat.v4.new_output("display_data", data={"text/plain": "bar", runs.WIDGET_VIEW: {"m": 1}})]
    nb.cells.append(cell)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    runs.clean_notebook(path)
    clean = nbformat.read(path, as_version=4)
    assert clean.metadata.papermill == {"parameters": {"run_dir": "/r"}, "exception": None}
    assert "widgets" not in clean.metadata
    cell = clean.cells[0]
    assert dict(cell.metadata) == {"tags": ["parameters"]} and cell.execution_count == 3
    assert cell.outputs[0].text == "1\n" and dict(cell.outputs[1].data) == {"text/plain": "bar"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"]
    json.loads(path.read_text())  # still a valid notebook file
