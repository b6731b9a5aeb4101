"""The real five notebooks, end to end, through the CLI with the tiny smoke profile."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from ecgnb import cli, runs
from tests.run_folders import broken_links

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = os.environ.get("ECGNB_DATA") or str(REPO.parent / "shared/data/ECG5000.zip")


@pytest.mark.skipif(not Path(REAL_DATA).exists(), reason="no local ECG5000 copy")
def test_smoke_run_renders_every_notebook_and_artifact(capsys, tmp_path, model_cache):
    data = str(Path(REAL_DATA).resolve())  # an absolute path given by the user: it must not leak either
    code = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "--name", "smoke", "--reports", str(tmp_path),
                     "--data", data])
    err = capsys.readouterr().err
    assert code == 0, err
    run_dir = tmp_path / "smoke"
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
    # live progress (stderr is not a terminal here: plain lines), then the notebook's own end line
    # 3 members × 2 epochs, side by side; at most a line every PLAIN_EVERY seconds, the last epoch always.
    # On a busy machine an epoch outlasts STEP_EVERY, so the first line may be a batch inside epoch 1
    assert "[2/5] 02_train … \n  epoch 1/2 · " in err and "\n  epoch 2/2 · member " in err
    assert "\n  cache: stored the trained model as " in err
    assert "\n[2/5] 02_train done in " in err
    assert "[3/5] 03_threshold … done in " in err

    # reports that travel: no path of this machine in what a reader opens, every link resolves
    machine = [str(tmp_path), str(REPO), sys.prefix, data, str(Path(data).parent)]
    for path in [*run_dir.glob("*.ipynb"), *run_dir.glob("*.html"), tmp_path / "index.html"]:
        text = path.read_text()
        assert not [m for m in machine if m in text], path.name
    assert runs.load_config(run_dir).data_path is None  # the kernels got it as $ECGNB_DATA
    assert json.loads((run_dir / runs.DATA_INFO).read_text())["fingerprint"] == "7315c131ffd1ac02"
    assert broken_links(tmp_path / "index.html") == [] and broken_links(run_dir / "index.html") == []
    assert "figures/roc_pr.png" in (run_dir / "index.html").read_text()
    moved = tmp_path / "sent" / "to" / "a colleague"
    shutil.copytree(run_dir, moved)
    assert broken_links(moved / "index.html") == []

    again = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "--name", "smoke", "--reports", str(tmp_path)])
    assert again == 2 and "--force" in capsys.readouterr().err

    # another threshold rule cannot change the weights: the cached model serves, the ranking is the same
    assert [p.suffix for p in model_cache.iterdir()] == [".pt"]
    rule = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "-p", "threshold_rule", "val_best_f1",
                     "--name", "smoke-f1", "--reports", str(tmp_path), "--data", data])
    err = capsys.readouterr().err
    assert rule == 0 and "cache: reused the model trained for these inputs" in err and "epoch 1/2" not in err
    f1 = json.loads((tmp_path / "smoke-f1" / runs.METRICS).read_text())
    assert f1["held_out"]["roc_auc"] == metrics["held_out"]["roc_auc"] and f1["threshold_rule"] == "val_best_f1"
