"""The real five notebooks, end to end, through the CLI with the tiny smoke profile."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from ecgnb import atomic, runs
from ecgnb.runner import cli, run_state
from tests.run_folders import broken_links

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_run_renders_every_notebook_and_artifact(capsys, monkeypatch, tmp_path, run_cache, real_zip):
    data = str(real_zip.resolve())  # an absolute path given by the user: it must not leak either
    written: list[Path] = []
    write_text = atomic.write_text
    monkeypatch.setattr(atomic, "write_text", lambda target, text: (written.append(Path(target)), write_text(target, text)))
    code = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "--name", "smoke", "--reports", str(tmp_path),
                     "--data", data])
    err = capsys.readouterr().err
    assert code == 0, err
    run_dir = tmp_path / "smoke"
    # the command writes each of its files once per change: run.json when the run starts and when it ends;
    # params.yaml, each executed notebook (cleaned) and its HTML, the run's page and the index once
    counts = {p.relative_to(tmp_path).as_posix(): written.count(p) for p in set(written) if run_cache not in p.parents}
    assert counts == {"smoke/run.json": 2, "smoke/params.yaml": 1, "smoke/index.html": 1, "index.md": 1,
                      "index.html": 1, **{f"smoke/{nb}.{ext}": 1 for nb in runs.NOTEBOOKS for ext in ("ipynb", "html")}}, counts
    for nb in runs.NOTEBOOKS:
        assert (run_dir / f"{nb}.ipynb").is_file() and (run_dir / f"{nb}.html").is_file(), nb
        executed = nbformat.read(run_dir / f"{nb}.ipynb", as_version=4)
        assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    for name in (runs.PARAMS, runs.DATA_INFO, runs.SPLIT, runs.CHECKPOINT, runs.HISTORY, runs.LOSSES,
                 runs.THRESHOLD, runs.METRICS, runs.STATUS):
        assert (run_dir / name).is_file(), name
    figures = sorted(p.name for p in (run_dir / runs.FIGURES).iterdir())
    assert len(figures) >= 8 and all(f.endswith(".png") for f in figures)
    status = json.loads((run_dir / runs.STATUS).read_text())
    assert status["status"] == "complete" and set(status["metrics"]) >= {"roc_auc", "f1", "balanced_accuracy"}
    metrics = json.loads((run_dir / runs.METRICS).read_text())
    assert metrics["tutorial"]["normal_total"] == metrics["tutorial"]["anomaly_total"] == 145
    assert metrics["held_out"]["n_normal"] == 145 and metrics["held_out"]["n_anomaly"] == 1693
    assert "smoke" in (tmp_path / "index.md").read_text()
    assert "[5/5] 05_visualize" in err
    # live progress (stderr is not a terminal here: plain lines), then the notebook's own end line;
    # the default's members × 2 epochs, side by side. On a slow machine records from inside an epoch come between.
    assert_training_progress(err, epochs=2)
    assert "[3/5] 03_threshold … done in " in err

    # reports that travel: no path of this machine in what a reader opens, every link resolves
    machine = [str(tmp_path), str(REPO), sys.prefix, data, str(Path(data).parent)]
    for path in [*run_dir.glob("*.ipynb"), *run_dir.glob("*.html"), tmp_path / "index.html"]:
        text = path.read_text()
        assert not [m for m in machine if m in text], path.name
    assert runs.reopen(run_dir).config.data_path is None  # the kernels got it as $ECGNB_DATA
    assert json.loads((run_dir / runs.DATA_INFO).read_text())["fingerprint"] == "7315c131ffd1ac02"
    assert broken_links(tmp_path / "index.html") == [] and broken_links(run_dir / "index.html") == []
    assert "figures/roc_pr.png" in (run_dir / "index.html").read_text()
    moved = tmp_path / "sent" / "to" / "a colleague"
    shutil.copytree(run_dir, moved)
    assert broken_links(moved / "index.html") == []

    again = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "--name", "smoke", "--reports", str(tmp_path)])
    assert again == 2 and "--force" in capsys.readouterr().err

    # another threshold rule cannot change the weights: the notebooks before and beside the threshold are
    # copied from the first run (their inputs are the same), 03 and 04 run again, the ranking is the same
    assert len([p for p in run_cache.iterdir() if p.is_dir()]) == 5  # one entry per executed notebook
    rule = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "-p", "threshold_rule", "val_best_f1",
                     "--name", "smoke-f1", "--reports", str(tmp_path), "--data", data])
    err = capsys.readouterr().err
    assert rule == 0 and "epoch 1/2" not in err, err
    for step, nb in enumerate(runs.NOTEBOOKS, 1):
        copied = nb in ("01_explore", "02_train", "05_visualize")
        assert (f"[{step}/5] {nb} … copied in " in err) == copied and (f"[{step}/5] {nb} … done in " in err) != copied
    again_dir = tmp_path / "smoke-f1"
    info = run_state.read_status(again_dir)
    assert info["status"] == "complete" and [nb for nb, v in info["notebooks"].items() if v.get("reused")] == [
        "01_explore", "02_train", "05_visualize"]
    files = lambda folder: sorted(p.relative_to(folder) for p in folder.rglob("*") if p.name != runs.PROGRESS)
    assert files(again_dir) == files(run_dir) and not (again_dir / runs.PROGRESS).exists()  # nothing trained
    assert (again_dir / runs.CHECKPOINT).read_bytes() == (run_dir / runs.CHECKPOINT).read_bytes()
    assert broken_links(again_dir / "index.html") == []
    f1 = json.loads((again_dir / runs.METRICS).read_text())
    assert f1["held_out"]["roc_auc"] == metrics["held_out"]["roc_auc"] and f1["threshold_rule"] == "val_best_f1"
    assert (again_dir / "03_threshold.html").read_bytes() != (run_dir / "03_threshold.html").read_bytes()

EPOCH_END = re.compile(r"  epoch (\d+)/(\d+) · member \d+ · \d+:\d\d elapsed")
IN_EPOCH = re.compile(r"  epoch (\d+)/(\d+) · \d+:\d\d elapsed.* · batch \d+/\d+$")


def assert_training_progress(err: str, epochs: int) -> None:
    """Between 02_train's opening and end lines: progress records from epoch 1 on, in order (on a slow
    machine records from inside an epoch come between), and last the final epoch's end,
    which the display always shows."""
    parts = err.split("[2/5] 02_train … \n", 1)[-1].split("\n[2/5] 02_train done in ", 1)
    assert len(parts) == 2, err
    lines = parts[0].splitlines()
    records = [EPOCH_END.match(line) or IN_EPOCH.match(line) for line in lines]
    assert lines and all(records), lines
    seen = [int(m[1]) for m in records]
    assert seen[0] == 1 and seen == sorted(seen) and {int(m[2]) for m in records} == {epochs}, lines
    assert EPOCH_END.match(lines[-1]) and seen[-1] == epochs, lines


FAST = ("[2/5] 02_train … \n  epoch 1/2 · member 0 · 0:01 elapsed, about 0:01 left · train 80.00\n"
        "  epoch 2/2 · member 2 · 0:02 elapsed · train 60.00\n"
        "[2/5] 02_train done in 9.0 s\n")
SLOW = ("[2/5] 02_train … \n  epoch 1/2 · 0:05 elapsed, about 0:30 left · batch 20/39\n"
        "  epoch 1/2 · member 1 · 0:09 elapsed, about 0:09 left · train 80.00\n"
        "  epoch 2/2 · 0:15 elapsed, about 0:03 left · batch 30/39\n"
        "  epoch 2/2 · member 0 · 0:19 elapsed · train 60.00\n"
        "[2/5] 02_train done in 25.0 s\n")


@pytest.mark.parametrize("err", [FAST, SLOW])
def test_training_progress_check_holds_on_fast_and_slow_machines(err):
    assert_training_progress(err, epochs=2)


@pytest.mark.parametrize("err", [FAST.replace("epoch 2/2 · member 2", "epoch 1/2 · member 2"),  # final epoch missing
                                 SLOW.replace("  epoch 1/2 · 0:05", "  something else · 0:05"),
                                 FAST.replace("[2/5] 02_train … \n  epoch 1/2", "[2/5] 02_train … \n  note\n  epoch 1/2"),
                                 SLOW.replace("epoch 1/2 · member 1", "epoch 3/2 · member 1")])
def test_training_progress_check_fails_on_wrong_output(err):
    with pytest.raises(AssertionError):
        assert_training_progress(err, epochs=2)
