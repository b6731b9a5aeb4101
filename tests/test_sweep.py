"""Studies: ecgnb.runner.grid (planning, resume decisions), cluster (landing), progress; then studies on
real local Dask clusters: tiny notebooks on two workers for failure, resume, a killed worker and an
existing scheduler, and the real five notebooks on the smoke profile (one run on one worker). The
study's table is tested with the other pages, in test_pages.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from ecgnb import config, runs
from ecgnb.runner import cli, cluster, grid, pages, run_state, study_table, sweep
from ecgnb.runner.study_progress import Progress
from ecgnb.config import Config
from ecgnb.errors import EcgnbError
from test_cli import WRITE_METRICS, notebook, one_error_line, run_cli
from run_folders import METRICS_04, dead_pid, make_run

REPO = Path(__file__).resolve().parents[1]


def resolve_with(base: dict):
    """A ``resolve`` for plan(): the given base values plus the -p pairs, validated by config.load."""
    return lambda pairs: config.load([], {**base, **{k: config.parse_value(v) for k, v in pairs}})


# ---------------------------------------------------------------- planning


def test_parse_grid_reads_keys_in_order():
    assert grid.parse_grid(["embedding_dim=16, 32", "lr=1e-3,0.01"]) == {"embedding_dim": ["16", "32"],
                                                                          "lr": ["1e-3", "0.01"]}


@pytest.mark.parametrize("item, message", [
    ("epochs", "write KEY=V1,V2"), ("epochs=", "write KEY=V1,V2"), ("=3", "write KEY=V1,V2"),
    ("epochs=2,,3", "write KEY=V1,V2"), ("seed=1,2", "--seeds"), ("epochs=2,2", "each value once"),
])
def test_parse_grid_errors(item, message):
    with pytest.raises(EcgnbError, match=message):
        grid.parse_grid([item])


def test_parse_grid_refuses_a_key_twice():
    with pytest.raises(EcgnbError, match="given twice"):
        grid.parse_grid(["epochs=1", "epochs=2"])


def test_plan_is_grid_product_times_seeds_with_names_that_say_the_configuration():
    planned = grid.plan("s", {"embedding_dim": ["16", "32"], "lr": ["1e-3"]}, [2, 1], resolve_with({"epochs": 3}))
    assert [p.name for p in planned] == ["s-embedding_dim16-lr1e-3-seed2", "s-embedding_dim16-lr1e-3-seed1",
                                         "s-embedding_dim32-lr1e-3-seed2", "s-embedding_dim32-lr1e-3-seed1"]
    assert [(p.cfg.embedding_dim, p.cfg.lr, p.cfg.seed, p.cfg.epochs) for p in planned] == [
        (16, 0.001, 2, 3), (16, 0.001, 1, 3), (32, 0.001, 2, 3), (32, 0.001, 1, 3)]
    assert planned[0].setting == planned[1].setting == (("embedding_dim", 16), ("lr", 0.001))


def test_plan_validates_every_configuration_and_names_the_bad_run():
    with pytest.raises(EcgnbError, match=r"run s-epochs0-seed1: parameter 'epochs' must be > 0"):
        grid.plan("s", {"epochs": ["2", "0"]}, [1], resolve_with({}))
    with pytest.raises(EcgnbError, match="each seed once"):
        grid.plan("s", {}, [1, 1], resolve_with({}))


def test_plan_refuses_two_runs_of_one_name():
    with pytest.raises(EcgnbError, match="same run name twice"):
        grid.plan("s", {"data_path": ["a/b", "a_b"]}, [1], resolve_with({}))


# ---------------------------------------------------------------- resuming


def planned_runs(*seeds: int) -> list[grid.PlannedRun]:
    return [grid.PlannedRun(f"s-seed{seed}", Config(seed=seed), ()) for seed in seeds]


def test_decide_keeps_complete_runs_and_reruns_failed_incomplete_and_missing(tmp_path):
    planned = planned_runs(1, 2, 3, 4)
    make_run(tmp_path, "s-seed1", "complete", Config(seed=1))
    make_run(tmp_path, "s-seed2", "failed", Config(seed=2))
    make_run(tmp_path, "s-seed3", "incomplete", Config(seed=3))
    todo, kept = grid.decide(planned, tmp_path, force=False)
    assert [p.name for p in kept] == ["s-seed1"] and [p.name for p in todo] == ["s-seed2", "s-seed3", "s-seed4"]
    todo, kept = grid.decide(planned, tmp_path, force=True)
    assert kept == [] and len(todo) == 4


def test_decide_refuses_a_folder_that_is_not_this_run(tmp_path):
    make_run(tmp_path, "s-seed1", "complete", Config(seed=1, epochs=3))
    with pytest.raises(EcgnbError, match="s-seed1: run folder holds other parameters; pass --force"):
        grid.decide(planned_runs(1), tmp_path, force=False)
    (tmp_path / "s-seed2").mkdir()
    with pytest.raises(EcgnbError, match="s-seed2: run folder was not made by `ecgnb run`"):
        grid.decide(planned_runs(2), tmp_path, force=False)


def test_study_lock_refuses_a_second_study_of_the_same_name(tmp_path):
    with sweep.study_lock(tmp_path, "s"):
        with pytest.raises(EcgnbError, match="another `ecgnb study --name s` is running"):
            with sweep.study_lock(tmp_path, "s"):
                pass
        with sweep.study_lock(tmp_path, "other"):
            pass


# ---------------------------------------------------------------- worker side and landing, without a cluster


def test_settle_marks_a_run_that_stopped_while_running_failed_at_its_notebook(tmp_path):
    run_dir = make_run(tmp_path, "r", "running")
    (run_dir / "02_train.html").unlink()  # 01_explore rendered, 02_train not: the run stopped in 02_train
    cluster.settle(run_dir, -15, 3.0)
    info = run_state.read_status(run_dir)
    assert info["status"] == "failed" and info["failure"]["notebook"] == "02_train"
    assert "exit code -15" in info["failure"]["error"]
    cluster.settle(run_dir, 0, 9.0)  # finished runs are left as they are
    assert run_state.read_status(run_dir)["seconds"] == 3.0


def test_land_replaces_an_old_folder_with_the_shipped_one_whole(tmp_path):
    shipped = make_run(tmp_path / "worker", "r", "complete", metrics=METRICS_04)
    (shipped / runs.FIGURES / "a.png").write_bytes(b"png")
    outcome = cluster.Outcome("r", 0, 1.0, "tcp://w", "", cluster.pack(shipped))
    reports = tmp_path / "reports"
    old = make_run(reports, "r", "failed")
    (old / "stale.txt").write_text("old")
    assert cluster.land(outcome, reports) == reports / "r"
    assert not (reports / "r" / "stale.txt").exists() and (reports / "r" / runs.FIGURES / "a.png").read_bytes() == b"png"
    assert run_state.read_status(reports / "r")["status"] == "complete"
    assert sorted(p.name for p in reports.iterdir()) == ["r"]  # no temp folders left
    assert cluster.land(cluster.Outcome("x", 2, 1.0, "tcp://w", "error: x", None), reports) is None


def test_threads_per_run_share_each_hosts_cores_among_its_runs():
    class Client:
        def nthreads(self):
            return {"a1": 1, "a2": 1, "b1": 2}

        def run(self, fn):
            return {"a1": ("a", 8), "a2": ("a", 8), "b1": ("b", 16)}

    assert cluster.threads_per_run(Client()) == 4  # a: 8 cores / 2 runs, b: 16 / 2; the smaller


def test_progress_counts_and_time_left():
    lines = []
    progress = Progress(total=5, slots=2, say=lines.append)
    progress.started("a", "w1")
    progress.finished("a", True, 10.0, "")
    progress.started("b", "w1")
    progress.finished("b", False, None, ": broke")
    assert "1 done · 0 running · 1 failed · 3 waiting · about 0:15 left" in lines[-1]  # 3 × 10 s over 2
    assert lines[-1].split("] ")[1].startswith("FAILED b: broke")


# ---------------------------------------------------------------- studies on a 2-worker local cluster


def fail_when(condition: str) -> str:
    """A notebook cell that raises when ``condition`` holds for the run's parameters ``p``."""
    return ('import pathlib, yaml\np = yaml.safe_load(pathlib.Path(run_dir, "params.yaml").read_text())\n'
            f'if {condition}:\n    raise RuntimeError("this configuration fails")')


def tiny(folder: Path, *cells: str) -> Path:
    notebook(folder / "01_write.ipynb", 'run_dir = ""\nparams_file = None', *cells, WRITE_METRICS)
    return folder


def study(capsys, reports: Path, notebooks: Path, *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "study", *argv, "--workers", "2", "--reports", str(reports),
                   "--notebooks-dir", str(notebooks))


@pytest.mark.slow
def test_a_failing_configuration_fails_alone_and_the_same_command_resumes(capsys, tmp_path):
    reports, argv = tmp_path / "reports", ("-g", "epochs=2,3", "--seeds", "1", "2", "--name", "st")
    code, out, err = study(capsys, reports, tiny(tmp_path / "nbs", fail_when("p['epochs'] == 3")), *argv)
    assert code == 1, err
    statuses = {n: run_state.read_status(reports / n)["status"] for n in ("st-epochs2-seed1", "st-epochs2-seed2",
                                                                    "st-epochs3-seed1", "st-epochs3-seed2")}
    assert statuses == {"st-epochs2-seed1": "complete", "st-epochs2-seed2": "complete",
                        "st-epochs3-seed1": "failed", "st-epochs3-seed2": "failed"}
    assert "failed runs (2; the same command runs them again):" in err
    assert (f"  st-epochs3-seed1: 01_write failed at cell [3]: RuntimeError: this configuration fails "
            f"(see {reports / 'st-epochs3-seed1' / '01_write.html'})") in err
    assert "| 2 | 2/2 | 0.850 ± 0.071 |" in out and "| 3 | 0/2 | – |" in out  # roc_auc 0.7 + seed/10
    assert (reports / "st.md").read_text() == out and "st-epochs3-seed1" in (reports / "index.md").read_text()
    kept = (reports / "st-epochs2-seed2" / runs.STATUS).read_bytes()
    stopped = reports / "st-epochs2-seed1"  # a run whose process vanished mid-way: incomplete
    run_state.update_status(stopped, status="running", pid=dead_pid())

    code, out, err = study(capsys, reports, tiny(tmp_path / "fixed"), *argv)  # the notebook fixed
    assert code == 0, err
    assert "1 complete kept, 3 to run" in err and err.count("] start  ") == 3
    assert "start  st-epochs2-seed2" not in err and (reports / "st-epochs2-seed2" / runs.STATUS).read_bytes() == kept
    assert run_state.read_status(stopped)["status"] == "complete"
    assert "| 3 | 2/2 | 0.850 ± 0.071 |" in out

    started = {n: run_state.read_status(reports / n)["started_at"] for n in ("st-epochs2-seed1", "st-epochs2-seed2")}
    time.sleep(1)  # run.json times are to the second
    code, _, err = study(capsys, reports, tmp_path / "fixed", *argv, "--force")
    assert code == 0 and "0 complete kept, 4 to run" in err
    assert all(run_state.read_status(reports / n)["started_at"] != t for n, t in started.items())


KILL_WORKER = """\
import os, pathlib, signal, psutil, yaml
seed = yaml.safe_load(pathlib.Path(run_dir, "params.yaml").read_text())["seed"]
tries = pathlib.Path(TRIES.format(seed=seed))
if seed == 2 or (seed == 1 and not tries.exists()):
    with tries.open("a") as f:
        f.write(f"{os.getppid()}\\n")  # this run's `ecgnb run` process
    os.kill(psutil.Process(os.getppid()).ppid(), signal.SIGKILL)  # its parent: the Dask worker
    import time; time.sleep(60)"""


@pytest.mark.slow
def test_a_killed_worker_loses_only_its_run(capsys, tmp_path):
    cell = f"TRIES = {str(tmp_path / 'tries-seed{seed}')!r}\n" + KILL_WORKER
    code, _, err = study(capsys, tmp_path / "reports", tiny(tmp_path / "nbs", cell),
                         "--seeds", "1", "2", "3", "--name", "k")
    reports = tmp_path / "reports"
    assert code == 1, err
    assert run_state.read_status(reports / "k-seed1")["status"] == "complete"  # its worker died once: run again
    assert run_state.read_status(reports / "k-seed3")["status"] == "complete"  # untouched by its neighbours' deaths
    assert not (reports / "k-seed2").exists()  # died twice: reported, nothing landed
    assert "retry  k-seed1: its worker died" in err
    assert "  k-seed2: its worker died while running it, on every try" in err
    orphans = [int(pid) for seed in (1, 2) for pid in (tmp_path / f"tries-seed{seed}").read_text().split()]
    assert len(orphans) == 3  # seed 1 once, seed 2 twice
    deadline = time.time() + 10
    while any(psutil.pid_exists(p) for p in orphans) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) for p in orphans), "a killed worker left its `ecgnb run` behind"


@pytest.mark.parametrize("argv, message", [
    (["-g", "epochs=2,many"], "run s-epochsmany-seed42: parameter 'epochs' must be int"),
    (["-g", "nope=1"], "run s-nope1-seed42: -p override: unknown parameter(s) nope"),
    (["-p", "epochs", "2", "-g", "epochs=3"], "epochs: given with -p and -g"),
    (["--seeds", "1", "1"], "--seeds 1 1: each seed once"),
    (["-g", "data_path=ü"], "run name 's-data_pathü-seed42' must be letters"),
    (["-g", "dataset=ECG200,ECG9999"], "run s-datasetECG9999-seed42: parameter 'dataset' must be ECG5000 or"),
])
def test_every_configuration_is_checked_before_anything_starts(capsys, tmp_path, argv, message):
    code, out, err = run_cli(capsys, "study", *argv, "--name", "s", "--reports", str(tmp_path / "reports"))
    assert code == 2 and message in one_error_line(err) and out == ""
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("argv, message", [(["--workers", "0"], "'0' is not a whole number >= 1"),
                                           (["--workers", "2", "--scheduler", "tcp://h:8786"], "not allowed with")])
def test_study_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["study", "--name", "s", *argv])
    assert exit_info.value.code == 2 and message in one_error_line(capsys.readouterr().err)


def test_a_folder_with_other_parameters_is_refused_and_untouched(capsys, tmp_path):
    make_run(tmp_path, "s-seed42", "complete", Config(epochs=7))
    before = (tmp_path / "s-seed42" / runs.STATUS).read_bytes()
    code, _, err = run_cli(capsys, "study", "--name", "s", "--reports", str(tmp_path))
    assert code == 2 and "s-seed42: run folder holds other parameters; pass --force" in one_error_line(err)
    assert (tmp_path / "s-seed42" / runs.STATUS).read_bytes() == before


RECORD_THREADS = """\
import json, os, pathlib, torch
pathlib.Path(run_dir, "threads.json").write_text(json.dumps(
    {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "torch": torch.get_num_threads()}))"""


@pytest.mark.slow
def test_study_on_an_existing_scheduler_with_threads_per_run(capsys, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        code, out, err = run_cli(capsys, "study", "--seeds", "1", "2", "--name", "d", "--scheduler",
                                 cluster.scheduler_address, "--threads-per-run", "2", "--reports",
                                 str(tmp_path / "reports"), "--notebooks-dir", str(tiny(tmp_path / "nbs",
                                                                                         RECORD_THREADS)))
        workers = set(cluster.scheduler.workers)
    assert code == 0, err
    assert f"cluster: 2 worker(s) at {cluster.scheduler_address}, 2 run(s) at a time, 2 thread(s) per run" in err
    for seed in (1, 2):
        run_dir = tmp_path / "reports" / f"d-seed{seed}"
        assert json.loads((run_dir / "threads.json").read_text()) == {"OMP_NUM_THREADS": "2", "torch": 2}
        about = run_state.read_status(run_dir)["study"]
        assert about["name"] == "d" and about["threads"] == 2 and about["worker"] in workers
        assert about["command"][:2] == ["ecgnb", "study"]
    assert "| 2/2 | 0.850 ± 0.071 |" in out


# ---------------------------------------------------------------- the real notebooks


@pytest.mark.slow
def test_smoke_study_runs_the_real_notebooks_on_a_dask_worker(capsys, tmp_path):
    """The real five notebooks on a Dask worker, every headline metric in the table. One run: two seeds in
    parallel, their mean ± std and a grid are the tiny notebooks' tests above; a second real run adds nothing."""
    reports = tmp_path / "reports"
    argv = ["study", "-f", str(REPO / "params/smoke.yaml"), "-p", "epochs", "1", "-p", "embedding_dim", "4",
            "--seeds", "1", "--name", "sm", "--workers", "1", "--threads-per-run", "1", "--reports", str(reports)]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert sorted(p.name for p in reports.iterdir() if p.is_dir()) == ["sm-seed1"]
    info = run_state.read_status(reports / "sm-seed1")
    assert info["status"] == "complete" and info["study"]["threads"] == 1
    assert (info["parameters"]["embedding_dim"], info["parameters"]["seed"]) == (4, 1)
    assert all((reports / "sm-seed1" / f"{nb}.html").is_file() for nb in runs.NOTEBOOKS)
    assert (reports / "sm-seed1" / runs.CHECKPOINT).stat().st_size > 0
    rows = [line for line in out.splitlines() if line.startswith("| 1/1 | ")]
    assert len(rows) == 1, out
    # complete, the headline metrics and the tutorial check (one run: its own values), seconds, the link
    key = run_state.key_metrics(json.loads((reports / "sm-seed1" / runs.METRICS).read_text()))
    names = [*study_table.METRICS, *(k for _, k in study_table.TUTORIAL)]
    assert rows[0].split(" | ")[1:len(names) + 1] == [pages.fmt(float(key[k])) for k in names], rows[0]
    assert "[seed1](sm-seed1/index.html)" in out

    code, _, err = run_cli(capsys, *argv)  # the same command again: all complete, nothing runs
    assert code == 0 and "1 complete kept, 0 to run" in err and "cluster:" not in err
