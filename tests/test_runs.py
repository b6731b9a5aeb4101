"""ecgnb.runs: run folders, atomic files, run.json, key metrics, clean notebooks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from ecgnb import atomic, runs
from ecgnb.config import Config
from ecgnb.errors import EcgnbError
from ecgnb.runner import clean, places, run_state
from tests.run_folders import METRICS_04, dead_pid

# ---------------------------------------------------------------- open_run, reopen, the Run object, atomic files


def test_open_run_creates_params_and_reopens(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("epochs: 3\nseed: 5\n")
    run_dir = tmp_path / "run"
    run = runs.open_run(run_dir, params)
    cfg = run.config
    assert (run_dir / runs.PARAMS).is_file() and (run_dir / runs.FIGURES).is_dir()
    assert (cfg.epochs, cfg.seed) == (3, 5) and run.folder == run_dir and os.fspath(run) == str(run_dir)
    assert runs.open_run(run_dir, params) == run  # same file again
    assert runs.open_run(run_dir, run_dir / runs.PARAMS) == run  # its own params.yaml (the CLI's way)
    assert runs.open_run(run_dir) == run  # nothing asked: the saved parameters
    assert runs.reopen(run_dir) == run


def test_a_run_reads_and_writes_its_files_by_name(tmp_path):
    from tests.test_detect import tiny_split

    run = runs.open_run(tmp_path / "run", overrides={"seed": 3})
    with pytest.raises(EcgnbError, match=r"split\.npz: not found; run 01_explore"):
        run.split()
    with pytest.raises(EcgnbError, match=r"data\.json: not found; run 01_explore"):
        run.data_info()
    run.save_split(tiny_split())
    run.write_json(runs.DATA_INFO, {"fingerprint": "abc"})
    again = runs.reopen(run.file(runs.PARAMS).parent)
    assert again.data_info() == {"fingerprint": "abc"} and again.config.seed == 3
    assert (again.split().train == tiny_split().train).all() and again.file(runs.LOSSES) == tmp_path / "run" / "losses.csv"


def test_open_run_with_other_parameters_starts_the_run_over(tmp_path, capsys):
    first, other = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("epochs: 3\n")
    other.write_text("epochs: 4\n")
    run_dir = tmp_path / "run"
    runs.open_run(run_dir, first)
    for name in (runs.SPLIT, runs.CHECKPOINT, runs.METRICS, f"{runs.FIGURES}/history.png", "01_explore.ipynb"):
        (run_dir / name).write_text("x")
    assert runs.open_run(run_dir, first) == runs.reopen(run_dir) and capsys.readouterr().out == ""
    assert runs.open_run(run_dir, other).config.epochs == 4 == runs.reopen(run_dir).config.epochs
    assert capsys.readouterr().out == ("new parameters (epochs: 3 → 4): this run starts over; removed what the old "
                                       "ones produced (split.npz, model.pt, metrics.json, figures/history.png)\n")
    assert sorted(p.name for p in run_dir.rglob("*") if p.is_file()) == ["01_explore.ipynb", runs.PARAMS]
    assert runs.open_run(run_dir, first, {"seed": 9}).config.seed == 9
    assert capsys.readouterr().out.endswith("this run starts over; removed what the old ones produced (nothing yet)\n")


def test_reopen_without_parameters_says_what_to_run(tmp_path):
    with pytest.raises(EcgnbError, match=r"params\.yaml: not found; run 01_explore"):
        runs.reopen(tmp_path)


def test_read_json_missing_names_the_maker(tmp_path):
    with pytest.raises(EcgnbError, match="run 04_evaluate"):
        runs.read_json(tmp_path / runs.METRICS, made_by="04_evaluate")


def test_atomic_writes_leave_no_temp_files(tmp_path):
    atomic.write_text(tmp_path / "a.txt", "one")
    atomic.write_text(tmp_path / "a.txt", "two")
    runs.write_json(tmp_path / "b.json", {"x": 1})
    assert (tmp_path / "a.txt").read_text() == "two" and runs.read_json(tmp_path / "b.json") == {"x": 1}
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        atomic.write_text(tmp_path / "dir", "cannot replace a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json", "dir"]


def test_repo_root_holds_notebooks_and_params(tmp_path, monkeypatch):
    root = places.repo_root()
    assert (root / "notebooks").is_dir() and (root / "params" / "default.yaml").is_file()
    monkeypatch.chdir(tmp_path)  # outside the checkout: found next to the package, not from the current folder
    assert places.repo_root() == root == Path(places.__file__).resolve().parents[2]


# ---------------------------------------------------------------- run.json


def test_status_lifecycle(tmp_path):
    info = run_state.start_status(tmp_path, "r", Config(), ["01_a", "02_b"], hide_code=True)
    assert info["status"] == "running" and info["pid"] == os.getpid() and info["hide_code"] is True
    assert {"python", "torch", "numpy", "pandas", "papermill"} <= set(info["versions"])
    assert info["parameters"] == Config().to_dict()
    assert run_state.effective_status(run_state.read_status(tmp_path)) == "running"  # this process is alive
    notebooks = {**info["notebooks"], "01_a": {"status": "done", "seconds": 1.5, "html": "01_a.html"}}
    done = run_state.finish_status(tmp_path, "complete", 3.21, notebooks=notebooks, metrics={"roc_auc": 0.9})
    assert (done["status"], done["seconds"], done["notebooks"]["01_a"]["seconds"]) == ("complete", 3.2, 1.5)
    with pytest.raises(EcgnbError, match="already complete"):
        run_state.finish_status(tmp_path, "failed", 1.0)
    with pytest.raises(ValueError):
        run_state.finish_status(tmp_path, "running", 1.0)


def test_running_without_its_process_is_incomplete(tmp_path):
    run_state.start_status(tmp_path, "r", Config(), ["01_a"])
    info = run_state.update_status(tmp_path, pid=dead_pid())
    assert run_state.effective_status(info) == run_state.INCOMPLETE
    assert run_state.effective_status({**info, "host": "another-machine"}) == "running"  # cannot tell: trust it


def test_read_status_errors(tmp_path):
    with pytest.raises(EcgnbError, match="not made by `ecgnb run`"):
        run_state.read_status(tmp_path)
    (tmp_path / runs.STATUS).write_text("{broken")
    with pytest.raises(EcgnbError, match="not valid JSON"):
        run_state.read_status(tmp_path)


# ---------------------------------------------------------------- metrics


def test_key_metrics_from_the_04_layout():
    got = run_state.key_metrics(METRICS_04)
    assert got["roc_auc"] == 0.97 and got["threshold"] == 24.5 and got["specificity"] == 0.92
    assert (got["tutorial_normal_correct"], got["tutorial_anomaly_total"]) == (142, 145)
    assert "accuracy" not in got
    assert (got["baseline_roc_auc"], got["baseline_balanced_accuracy"]) == (0.96, 0.91)
    assert "baseline_f1" not in got and "baseline_tutorial_normal_correct" not in got


def test_key_metrics_read_only_the_held_out_and_tutorial_tables():
    layout = {"f1": 0.1, "val": {"f1": 0.2}, "held_out": {"f1": 0.8, "roc_auc": "n/a"}, "tutorial": {"normal_correct": 3}}
    assert run_state.key_metrics(layout) == {"f1": 0.8, "tutorial_normal_correct": 3}
    assert run_state.key_metrics({}) == {}


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
                    nbformat.v4.new_output("display_data", data={"text/plain": "bar", clean.WIDGET_VIEW: {"m": 1}})]
    nb.cells.append(cell)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    clean.clean_notebook(path)
    cleaned = nbformat.read(path, as_version=4)
    assert cleaned.metadata.papermill == {"parameters": {"run_dir": "/r"}, "exception": None}
    assert "widgets" not in cleaned.metadata
    cell = cleaned.cells[0]
    assert dict(cell.metadata) == {"tags": ["parameters"]} and cell.execution_count == 3
    assert cell.outputs[0].text == "1\n" and dict(cell.outputs[1].data) == {"text/plain": "bar"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"]
    json.loads(path.read_text())  # still a valid notebook file


def test_clean_notebook_replaces_this_machines_paths(tmp_path):
    run_dir = tmp_path / "reports" / "r"
    run_dir.mkdir(parents=True)
    root, home = places.repo_root(), Path.home()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=f"{sys.prefix}/lib/site.py:3: Warning\n"),
        nbformat.v4.new_output("error", ename="EcgnbError", evalue=f"{run_dir}/split.npz: not found",
                               traceback=[f"File {root}/ecgnb/runs.py:67, in read_json", f"{home}/x"]),
        nbformat.v4.new_output("execute_result", data={"text/plain": f"'{run_dir}/figures'",
                                                       "text/html": f"<td>{run_dir}</td>"}),
    ]
    nb.cells.append(cell)
    path = run_dir / "nb.ipynb"
    nbformat.write(nb, path)
    clean.clean_notebook(path)
    text = path.read_text()
    for machine_path in (str(tmp_path), str(root), sys.prefix, str(home)):
        assert machine_path not in text
    out = nbformat.read(path, as_version=4).cells[0].outputs
    assert out[0].text == "<python>/lib/site.py:3: Warning\n"
    assert out[1].evalue == "./split.npz: not found"
    assert out[1].traceback == ["File <ecgnb>/ecgnb/runs.py:67, in read_json", "~/x"]
    assert out[2].data == {"text/plain": "'./figures'", "text/html": "<td>.</td>"}
