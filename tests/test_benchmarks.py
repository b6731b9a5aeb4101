"""benchmarks/train_speed.py drives the real trainer with the default recipe: keep that call working."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks import train_speed
from ecgnb import config, data


def tiny_split(seed: int = 0) -> data.Split:
    rng = np.random.default_rng(seed)
    beats = lambda n, shift: (np.sin(np.linspace(0, 6, 140))[None] + shift + 0.1 * rng.standard_normal((n, 140))
                              ).astype(np.float32)
    return data.Split(train=beats(16, 0.0), val=beats(6, 0.0), test=beats(4, 0.0), anomalies=beats(10, 1.0),
                      anomaly_targets=np.full(10, 2), val_anomaly_mask=np.arange(10) < 4)


def test_time_to_quality_runs_the_default_recipe():
    cfg = config.load([Path(__file__).parents[1] / "params" / "default.yaml"],
                      {"embedding_dim": 4, "epochs": 2, "select_by": "val_roc_auc"})  # needs validation anomalies
    assert cfg.members > 1  # the default's ensemble: every member's sequences count
    got = train_speed.ecgnb_time_to_quality(tiny_split(), cfg, minutes=5)
    assert got["epochs"] == 2 and got["seq_per_s"] > 0 and np.isfinite(got["best_val_l1"])


def test_study_speed_times_both_studies_and_prints_both_tables(tmp_path, capsys):
    from benchmarks import study_speed
    from test_cli import WRITE_METRICS, notebook

    nbs = tmp_path / "nbs"
    notebook(nbs / "01_write.ipynb", 'run_dir = ""\nparams_file = None', WRITE_METRICS)
    got = study_speed.main(["--seeds", "1", "2", "--reports", str(tmp_path / "r"), "--",
                            "--notebooks-dir", str(nbs)])
    out = capsys.readouterr().out
    assert got["runs"] == 2 and got["ratio"] == pytest.approx(got["sequential_s"] / got["parallel_s"], abs=0.02)
    assert set(got["run_seconds"]["bench-seq"]) == {"bench-seq-seed1", "bench-seq-seed2"}
    assert "# Study bench-seq" in out and "# Study bench-par" in out and "ratio: " in out
