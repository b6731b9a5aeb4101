"""The ``ecgnb`` command: one-line user errors (exit 2), and the run / failure / study paths on tiny notebooks.

The real notebooks run end to end in the smoke test; here two-cell notebooks in tmp_path stand in
for them (``--notebooks-dir``), executed by papermill with the environment's python3 kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ecgnb import runs
from ecgnb.runner import cli, kernels, run_state

REPO = Path(__file__).resolve().parents[1]

WRITE_METRICS = """\
import json, pathlib, yaml
seed = yaml.safe_load(pathlib.Path(run_dir, "params.yaml").read_text())["seed"]
metrics = {"held_out": {"roc_auc": 0.7 + seed / 10, "f1": 0.5, "balanced_accuracy": 0.6, "threshold": 26.0},
           "tutorial": {"normal_correct": 140, "normal_total": 145, "anomaly_correct": 130 + seed,
                        "anomaly_total": 145}}
pathlib.Path(run_dir, "metrics.json").write_text(json.dumps(metrics))
print("wrote metrics")"""


def notebook(path: Path, *sources: str) -> Path:
    """A notebook whose first cell is the parameters cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, source in enumerate(sources):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = ["parameters"] if i == 0 else []
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def good_notebooks(tmp_path) -> Path:
    folder = tmp_path / "nbs_good"
    notebook(folder / "01_write.ipynb", 'run_dir = ""\nparams_file = None', WRITE_METRICS)
    return folder


@pytest.fixture
def failing_notebooks(good_notebooks) -> Path:
    notebook(good_notebooks / "02_fail.ipynb", 'run_dir = ""', "x = 1", 'raise ValueError("bad beat\\nmore")')
    return good_notebooks


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ---------------------------------------------------------------- user errors: one line, exit 2, nothing created


@pytest.mark.parametrize("argv, message", [
    (["-p", "nope", "3"], "unknown parameter(s) nope"),
    (["-p", "epochs", "many"], "parameter 'epochs' must be int"),
    (["-p", "batch_size", "0"], "parameter 'batch_size' must be in"),
    (["-f", "missing.yaml"], "missing.yaml: params file not found"),
    (["--data", "/no/such/ECG5000.zip"], "/no/such/ECG5000.zip: not found (--data)"),
    (["--name", "../escape"], "run name '../escape'"),
])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(capsys, tmp_path, argv, message):
    reports = tmp_path / "reports"
    code, out, err = run_cli(capsys, "run", *argv, "--reports", str(reports))
    assert code == 2 and message in one_error_line(err) and out == ""
    assert not reports.exists()


def test_existing_run_without_force_is_refused_and_untouched(capsys, tmp_path):
    run_dir = tmp_path / "default"
    run_dir.mkdir()
    (run_dir / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, "run", "--reports", str(tmp_path))
    assert code == 2 and "--force" in one_error_line(err) and "--name" in err
    assert [p.name for p in run_dir.iterdir()] == ["keep.txt"]


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--no-such-option"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in one_error_line(capsys.readouterr().err)


def test_compare_unknown_run_is_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compare", "ghost", "--reports", str(tmp_path))
    assert code == 2 and "run 'ghost'" in one_error_line(err)


def test_data_missing_path_is_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "data", "--data", str(tmp_path / "none.zip"))
    assert code == 2 and "not found" in one_error_line(err)


def test_data_verifies_and_prints_the_fingerprint(capsys, monkeypatch, tmp_path, real_zip):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, out, _ = run_cli(capsys, "data", "--data", str(real_zip))
    assert code == 0 and "rows: 5000" in out and "fingerprint: 7315c131ffd1ac02" in out


def test_python_dash_m_ecgnb(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "ecgnb.runner", "--help"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and "run" in done.stdout and "compare" in done.stdout


# ---------------------------------------------------------------- running tiny notebooks


def test_failed_notebook_keeps_its_report_and_exits_1(capsys, tmp_path, failing_notebooks):
    reports = tmp_path / "reports"
    code, _, err = run_cli(capsys, "run", "-f", "params/smoke.yaml", "--name", "x", "--reports", str(reports),
                           "--notebooks-dir", str(failing_notebooks))
    run_dir = reports / "x"
    assert code == 1
    assert "[1/2] 01_write … done in" in err and "[2/2] 02_fail … failed" in err
    assert f"error: 02_fail failed at cell [4]: ValueError: bad beat more (see {run_dir / '02_fail.html'})" in err
    info = run_state.read_status(run_dir)
    assert info["status"] == "failed"
    assert info["failure"] == {"notebook": "02_fail", "cell": 4, "error": "ValueError: bad beat more",
                               "html": "02_fail.html"}
    assert info["notebooks"]["01_write"]["status"] == "done" and info["notebooks"]["02_fail"]["status"] == "failed"
    assert info["parameters"]["epochs"] == 2  # the smoke profile, found from the repository
    executed = nbformat.read(run_dir / "02_fail.ipynb", as_version=4)
    assert "papermill-error-cell-tag" in executed.cells[0].metadata["tags"]  # papermill's banner stays
    assert any(o.get("ename") == "ValueError" for c in executed.cells for o in c.get("outputs", []))
    assert all("papermill" not in c.metadata for c in executed.cells)  # cleaned
    assert "bad beat" in (run_dir / "02_fail.html").read_text()
    assert (run_dir / "01_write.html").is_file() and (run_dir / "params.yaml").is_file()
    assert "| [x](x/index.html) | failed: 02_fail [4] |" in (reports / "index.md").read_text()


def test_complete_run_records_metrics_and_force_replaces(capsys, tmp_path, good_notebooks):
    reports = tmp_path / "reports"
    stale = reports / "ok"
    stale.mkdir(parents=True)
    (stale / "old.txt").write_text("old")
    code, _, err = run_cli(capsys, "run", "-p", "seed", "2", "--name", "ok", "--force", "--hide-code",
                           "--reports", str(reports), "--notebooks-dir", str(good_notebooks))
    assert code == 0, err
    assert not (stale / "old.txt").exists()
    info = run_state.read_status(stale)
    assert info["status"] == "complete" and info["seconds"] > 0 and info["hide_code"] is True
    assert info["metrics"]["roc_auc"] == pytest.approx(0.9) and info["metrics"]["tutorial_anomaly_correct"] == 132
    assert "run ok complete" in err and "roc_auc 0.900" in err
    executed = nbformat.read(stale / "01_write.ipynb", as_version=4)
    assert dict(executed.metadata.papermill.parameters) == {"run_dir": ".", "params_file": "params.yaml"}
    for name in ("01_write.ipynb", "01_write.html", "index.html"):  # nothing names this machine's folders
        assert str(tmp_path) not in (stale / name).read_text(), name
    html = (stale / "01_write.html").read_text()
    assert "wrote metrics" in html and "yaml.safe_load" not in html  # --hide-code leaves code out
    index = (reports / "index.md").read_text()
    assert "| [ok](ok/index.html) | complete |" in index and "0.900" in index


@pytest.mark.slow
def test_study_runs_each_seed_then_writes_mean_and_std(capsys, tmp_path, good_notebooks):
    reports = tmp_path / "reports"
    code, out, err = run_cli(capsys, "study", "--seeds", "1", "2", "3", "--name", "st", "--reports", str(reports),
                             "--notebooks-dir", str(good_notebooks))
    assert code == 0, err
    assert sorted(p.name for p in reports.iterdir() if p.is_dir()) == ["st-seed1", "st-seed2", "st-seed3"]
    assert "| 3/3 | 0.900 ± 0.100 |" in out and "| 132.000 ± 1.000 |" in out  # roc_auc 0.7 + seed/10, 130 + seed
    assert (reports / "st.md").read_text() == out and (reports / "st.html").is_file()
    code, _, err = run_cli(capsys, "study", "--seeds", "1", "--name", "st", "--reports", str(reports))
    assert code == 0 and "1 complete kept, 0 to run" in err  # the same run again: kept, not redone
    code, out, _ = run_cli(capsys, "compare", "st-seed1", "st-seed3", "--reports", str(reports),
                           "--out", str(tmp_path / "c.md"))
    assert code == 0 and "| seed | 1 | 3 |" in out and (tmp_path / "c.html").is_file()


def test_a_failure_inside_ecgnb_leaves_no_path_of_this_machine(capsys, tmp_path, good_notebooks):
    notebook(good_notebooks / "02_fail.ipynb", 'run_dir = ""',
             "import pathlib\nfrom ecgnb import runs\nruns.read_json(pathlib.Path.cwd() / 'nothing.json')")
    code, _, err = run_cli(capsys, "run", "--name", "f", "--reports", str(tmp_path / "reports"),
                           "--notebooks-dir", str(good_notebooks))
    run_dir = tmp_path / "reports" / "f"
    assert code == 1 and "EcgnbError: ./nothing.json: not found" in err
    assert run_state.read_status(run_dir)["failure"]["error"].startswith("EcgnbError: ./nothing.json: not found")
    executed = nbformat.read(run_dir / "02_fail.ipynb", as_version=4)
    error, = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert any("<ecgnb>/ecgnb/runs.py" in line for line in error.traceback)  # the package's frame, by checkout
    for name in ("02_fail.ipynb", "02_fail.html", "index.html"):
        text = (run_dir / name).read_text()
        assert str(tmp_path) not in text and str(REPO) not in text and sys.prefix not in text, name


REPORT_PROGRESS = """\
from ecgnb.progress import Reporter
reporter = Reporter(epochs=3, batches=10)
for epoch in (1, 2, 3):
    reporter.epoch({"epoch": epoch, "train_loss": 30.0 - epoch, "val_l1": 20.0 - epoch, "lr": 0.1})
print("trained")"""


def test_run_shows_the_kernels_training_progress(capsys, tmp_path, good_notebooks):
    notebook(good_notebooks / "02_train.ipynb", 'run_dir = ""', REPORT_PROGRESS)
    code, _, err = run_cli(capsys, "run", "--name", "p", "--reports", str(tmp_path),
                           "--notebooks-dir", str(good_notebooks))
    assert code == 0, err
    lines = err.splitlines()
    start = lines.index("[2/2] 02_train … ")
    assert lines[start + 1].startswith("  epoch 1/3 · 0:") and lines[start + 1].endswith(" · train 29.00 · val L1 19.00")
    assert lines[start + 2].startswith("  epoch 3/3 · 0:") and lines[start + 2].endswith(" · train 27.00 · val L1 17.00")
    assert lines[start + 3].startswith("[2/2] 02_train done in ")
    assert "[1/2] 01_write … done in " in err  # a notebook without progress keeps its one line
    assert len((tmp_path / "p" / runs.PROGRESS).read_text().splitlines()) == 3
    assert os.environ.get("ECGNB_PROGRESS") is None  # the kernels' environment is not left behind


@pytest.mark.parametrize("raised, code, status", [(KeyboardInterrupt(), 130, "interrupted"),
                                                  (RuntimeError("kernel died"), 1, "failed")])
def test_interrupted_or_broken_execution(capsys, monkeypatch, tmp_path, good_notebooks, raised, code, status):
    def execute(*args, **kwargs):
        raise raised

    monkeypatch.setattr(kernels, "execute", execute)
    got, _, err = run_cli(capsys, "run", "--name", "r", "--reports", str(tmp_path),
                          "--notebooks-dir", str(good_notebooks))
    info = run_state.read_status(tmp_path / "r")
    assert got == code and info["status"] == status and info["failure"]["notebook"] == "01_write"
    assert f"error: 01_write {status}" in err
    assert status in (tmp_path / "index.md").read_text()


def test_index_command_marks_a_dead_run_incomplete(capsys, tmp_path):
    run_dir = tmp_path / "dead"
    run_dir.mkdir()
    run_state.start_status(run_dir, "dead", cli.config.Config(), runs.NOTEBOOKS)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    run_state.update_status(run_dir, pid=proc.pid)
    code, out, _ = run_cli(capsys, "index", "--reports", str(tmp_path))
    assert code == 0 and "| [dead](dead/index.html) | incomplete |" in out
    assert "<strong>incomplete</strong>" in (run_dir / "index.html").read_text()  # the run's page, written by index
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # the file is not rewritten


RECORD_KERNEL = """\
import json, os, pathlib, time, psutil
here = pathlib.Path(run_dir, f"kernel-{NAME}.json")
here.write_text(json.dumps({"pid": os.getpid(), "born": psutil.Process().create_time(), "done": time.time()}))"""


def test_each_kernel_boots_while_the_notebook_before_it_runs_and_none_is_left(capsys, tmp_path):
    """Kernels are started a notebook ahead (kernels.Kernels); every one is stopped when the run ends."""
    import psutil

    folder = tmp_path / "nbs"
    for i, name in enumerate(("a", "b", "c"), 1):
        notebook(folder / f"0{i}_{name}.ipynb", 'run_dir = ""\nparams_file = None',
                 f"NAME = {name!r}\nimport time; time.sleep(1.5)", RECORD_KERNEL)
    code, _, err = run_cli(capsys, "run", "--name", "k", "--reports", str(tmp_path / "r"), "--notebooks-dir", str(folder))
    assert code == 0, err
    seen = {n: json.loads((tmp_path / "r" / "k" / f"kernel-{n}.json").read_text()) for n in "abc"}
    assert len({s["pid"] for s in seen.values()}) == 3  # a kernel of its own for each notebook
    assert seen["b"]["born"] < seen["a"]["done"] and seen["c"]["born"] < seen["b"]["done"]
    assert not [s["pid"] for s in seen.values() if psutil.pid_exists(s["pid"])]
    assert not [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]


def test_a_kernel_loads_its_notebooks_imports_before_the_notebook_runs_and_silently(capsys, monkeypatch, tmp_path):
    """The next notebook's kernel imports what that notebook imports while the one before runs (kernels.imports);
    the notebook then sees the module loaded, its execution counts are a fresh kernel's, and what the import
    printed stays out of the notebook."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "marker.py").write_text("import time\nLOADED_AT = time.time()\nprint('loading marker')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "lib"))
    folder = tmp_path / "nbs"
    notebook(folder / "01_a.ipynb", 'run_dir = ""\nparams_file = None', "import time; time.sleep(1.5); END = time.time()",
             "import json, pathlib; pathlib.Path(run_dir, 'a.json').write_text(json.dumps(END))")
    notebook(folder / "02_b.ipynb", 'run_dir = ""', "%time x = 1", "import sys; BEFORE = 'marker' in sys.modules",
             "import marker", "import json, pathlib\n"
             "pathlib.Path(run_dir, 'b.json').write_text(json.dumps([BEFORE, marker.LOADED_AT]))")
    assert kernels.imports(folder / "02_b.ipynb") == "import sys\nimport marker\nimport json, pathlib"
    code, _, err = run_cli(capsys, "run", "--name", "w", "--reports", str(tmp_path / "r"), "--notebooks-dir", str(folder))
    assert code == 0, err
    run_dir = tmp_path / "r" / "w"
    before, loaded_at = json.loads((run_dir / "b.json").read_text())
    assert before and loaded_at < json.loads((run_dir / "a.json").read_text())
    cells = [c for c in nbformat.read(run_dir / "02_b.ipynb", as_version=4).cells if c.cell_type == "code"]
    assert [c.execution_count for c in cells] == list(range(1, 7))  # its own parameters cell, papermill's, then 4
    assert not [o for c in cells for o in c.outputs if "loading marker" in str(o.get("text", ""))]
