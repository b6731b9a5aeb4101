"""The real five notebooks, end to end, through the CLI with the tiny smoke profile."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from ecgnb import cli, runs

REPO = Path(__file__).resolve().parents[1]


def test_smoke_run_renders_every_notebook_and_artifact(capsys, tmp_path):
    code = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "--name", "smoke", "--reports", str(tmp_path)])
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

    again = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "--name", "smoke", "--reports", str(tmp_path)])
    assert again == 2 and "--force" in capsys.readouterr().err
