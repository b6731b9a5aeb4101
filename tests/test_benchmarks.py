"""benchmarks/train_speed.py drives the real trainer with the default recipe: keep that call working."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks import train_speed
from ecgnb import config, data
from ecgnb.runner import run_state


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


@pytest.mark.slow
def test_study_speed_times_both_studies_and_prints_both_tables(tmp_path, capsys):
    from benchmarks import study_speed
    from test_cli import WRITE_METRICS, notebook

    nbs = tmp_path / "nbs"
    notebook(nbs / "01_write.ipynb", 'run_dir = ""\nparams_file = None', WRITE_METRICS)
    got = study_speed.main(["--seeds", "1", "2", "--reports", str(tmp_path / "r"), "--",
                            "--notebooks-dir", str(nbs)])
    out = capsys.readouterr().out
    seq, par = got["sequential_s"], got["parallel_s"]  # each rounded to 0.1 s, the ratio to 0.01
    slack = seq / par * (0.05 / seq + 0.05 / par) + 0.005
    assert got["runs"] == 2 and got["ratio"] == pytest.approx(seq / par, abs=slack)
    assert set(got["run_seconds"]["bench-seq"]) == {"bench-seq-seed1", "bench-seq-seed2"}
    assert "# Study bench-seq" in out and "# Study bench-par" in out and "ratio: " in out


def grid_row(seed: int, perturbation: str, roc: float, threshold: float, tutorial: str = "142 · 143") -> dict:
    from ecgnb.runner.reference import TOLERANCES

    results = {name: 1.0 for name in TOLERANCES} | {"roc_auc": roc, "threshold": threshold}
    return {"seed": seed, "perturbation": perturbation, "kept_epoch": 27.0, "roc_auc": roc, "balanced_accuracy": 0.98,
            "threshold": threshold, "tutorial": tutorial, "baseline_roc_auc": 0.9969, "report_s": 170.0,
            "train_s": 130.0, "results": results}


def test_stability_table_gives_each_seeds_spread_and_judges_the_goal_lines():
    from benchmarks import stability

    rows = [grid_row(42, "native", 0.9960, 34.0), grid_row(42, "onednn-avx2", 0.9950, 30.0, "140 · 144"),
            grid_row(42, "train-seed-1", 0.9970, 36.0),
            grid_row(43, "native", 0.9930, 33.0), grid_row(43, "onednn-avx2", 0.9931, 33.5),
            grid_row(43, "train-seed-1", 0.9929, 32.0)]
    text = stability.table(rows)
    assert "| 42 | 3 | 0.9950 / 0.9960 / 0.9970 | 0.0020 | 0.980 / 0.980 / 0.980 | 30.00 / 34.00 / 36.00 | " \
           "±11.8% | 140–142 | 143–144 |" in text  # (34 - 30) / 34
    assert "ROC-AUC range ≤ 0.002: met (largest 0.0020)" in text
    assert "worst ROC-AUC ≥ 0.992: met (0.9929)" in text
    assert "mean ROC-AUC ≥ 0.9965 for every perturbation: NOT met (native 0.9945, onednn-avx2 0.9940, " \
           "train-seed-1 0.9950; 5-NN baseline 0.9969)" in text
    assert "threshold within ±10% of its median per seed: NOT met (largest ±11.8%)" in text
    spread = stability.result_spread(rows)
    line = next(l for l in spread.splitlines() if l.startswith("| `threshold`") and "34.00" in l)
    assert line.split(" | ")[1:5] == ["34.00", "30.00", "36.00", "11.8%"]  # relative tolerance: the distance in %


def test_an_unknown_perturbation_is_refused_before_anything_runs():
    from benchmarks import stability

    with pytest.raises(SystemExit, match="unknown perturbation 'two-threads'"):
        stability.perturbation("two-threads")
    assert stability.perturbation("train-seed-7") == ({}, ["-p", "train_seed", "7"])
    assert stability.perturbation("onednn-avx2") == ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, [])


def test_time_to_quality_measures_a_run_folder_and_gives_the_ratio(tmp_path):
    from benchmarks import time_to_quality
    from ecgnb import runs
    from ecgnb.config import Config
    from test_reference import run_folder

    rows = {}
    for name, batch, seconds in (("previous default", 16, 100.0), ("current default", 4, 40.0)):
        run_dir = run_folder(tmp_path / name.replace(" ", "-"), Config(batch_size=batch))
        data.save_split(tiny_split(), run_dir / runs.SPLIT)  # 16 training beats
        notebooks = run_state.start_status(run_dir, name, Config(), runs.NOTEBOOKS)["notebooks"]
        run_state.update_status(run_dir, notebooks={**notebooks, "02_train": {"status": "done", "seconds": seconds / 2}})
        rows[name] = time_to_quality.measured(run_dir, seconds)
    assert rows["previous default"]["member_epochs"] == 6 and rows["previous default"]["steps"] == 6 * 1
    assert rows["current default"]["steps"] == 6 * 4 and rows["current default"]["train_s"] == 20.0
    assert rows["current default"]["roc_auc"] == 0.9961
    text = time_to_quality.table(rows)
    assert "| current default | 40.0 | 20.0 | 6 | 24 | 0.9961 | 0.981 |" in text
    assert text.rstrip().endswith("ratio (current / previous): report 0.40×, 02_train 0.40×")
    assert time_to_quality.PREVIOUS["members"] == 3 and time_to_quality.PREVIOUS["downsample"] == 1
