"""`ecgnb score`: a complete run's detector on the beats of a file, and two-channel data of one's own end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgnb import detect, runs, train
from ecgnb.runner import cli, run_state, scoring
from ecgnb.config import Config
from ecgnb.data import Split
from ecgnb.detector import COLUMNS, Detector
from ecgnb.model import Ensemble
from ecgnb.threshold import Threshold
from tests.run_folders import METRICS_04, make_run
from tests.test_score import ALTERNATING, T as S, constant_model

REPO = Path(__file__).resolve().parents[1]
T, F = 20, 2


def two_channel_beats(n_normal: int = 120, n_abnormal: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normal beats (label 0): a sine and a cosine; abnormal ones (label 3): both tripled, and a spike."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, T)
    normal = np.stack([np.sin(t), np.cos(t)], axis=1)
    abnormal = 3 * normal + np.stack([np.zeros(T), 2.0 * (np.abs(t - 3) < 0.4)], axis=1)
    x = np.r_[np.repeat(normal[None], n_normal, 0), np.repeat(abnormal[None], n_abnormal, 0)]
    x = (x + 0.1 * rng.normal(size=x.shape)).astype(np.float32)
    return x, np.r_[np.zeros(n_normal, int), np.full(n_abnormal, 3)]


def a_run(reports: Path, status: str = "complete") -> Path:
    """A run folder as a complete `ecgnb run` leaves it for scoring: parameters, data.json, model.pt, threshold."""
    cfg = Config(members=2, embedding_dim=2, epochs=1, downsample=1)
    run_dir = make_run(reports, "r", status, cfg, metrics=METRICS_04)
    runs.write_json(run_dir / runs.DATA_INFO, {"fingerprint": "abc"})
    det = Detector(cfg).calibrate(train.build_model(cfg, T, F), pd.DataFrame({"member": [0], "epoch": [1]}),
                                  two_channel_beats(8, 0)[0])
    det.save(run_dir / runs.CHECKPOINT, fingerprint="abc")
    Threshold(2.0, "train_percentile").save(run_dir / runs.THRESHOLD)
    return run_dir


def test_the_table_flags_the_scores_above_the_run_threshold(tmp_path, capsys):
    run_dir = a_run(tmp_path)
    x, y = two_channel_beats(6, 4)
    np.savez(tmp_path / "beats.npz", X=x, y=y)
    expected = Detector.load(run_dir / runs.CHECKPOINT).decision_function(x)
    chosen = float(np.median(expected))
    Threshold(chosen, "fixed").save(run_dir / runs.THRESHOLD)
    assert cli.main(["score", "r", str(tmp_path / "beats.npz"), "--reports", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert list(table.columns) == ["index", "label", "anomaly_score", "flagged"]
    assert table["index"].tolist() == list(range(10)) and table["label"].tolist() == y.tolist()
    np.testing.assert_allclose(table["anomaly_score"], expected, rtol=1e-6)
    assert table["flagged"].tolist() == (expected > chosen).tolist() and 0 < table["flagged"].sum() < 10
    assert err == f"{table['flagged'].sum()} of 10 beats flagged (anomaly score above {chosen:.4g}, rule fixed)\n"


def test_an_unlabelled_file_by_run_folder_path_to_a_file(tmp_path, capsys):
    run_dir = a_run(tmp_path)
    x, _ = two_channel_beats(3, 0)
    np.savez(tmp_path / "beats.npz", X=x)
    out = tmp_path / "flags.csv"
    assert cli.main(["score", str(run_dir), str(tmp_path / "beats.npz"), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert list(pd.read_csv(out).columns) == ["index", "anomaly_score", "flagged"]
    assert cli.main(["score", str(run_dir), str(tmp_path / "beats.npz"), "-o", str(out)]) == 2  # no --force
    assert "exists; pass --force" in capsys.readouterr().err
    out.write_text("mine")
    assert cli.main(["score", str(run_dir), str(tmp_path / "beats.npz"), "-o", str(out), "--force"]) == 0
    assert out.read_text().startswith("index,")


@pytest.mark.parametrize("name, beats, message", [
    ("short.npz", lambda x: x[:, :-1], "beats of 19 samples; the run r scores beats of 20"),
    ("one.npz", lambda x: x[:, :, :1], "beats of 1 channel(s); the run r scores beats of 2"),
    ("nan.npz", lambda x: np.where(np.arange(len(x))[:, None, None] == 1, np.nan, x), "beat 1 (row 2) holds a non-fin"),
    ("beats.xlsx", None, "unknown file format '.xlsx'"),
])
def test_a_file_the_run_cannot_score_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, name, beats, message):
    a_run(tmp_path)
    x, _ = two_channel_beats(3, 0)
    path = tmp_path / name
    np.savez(path, X=beats(x)) if beats else path.write_text("x")
    out = tmp_path / "flags.csv"
    assert cli.main(["score", "r", str(path), "-o", str(out), "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_only_a_complete_run_with_its_own_model_scores(tmp_path, capsys):
    x, _ = two_channel_beats(3, 0)
    np.savez(tmp_path / "beats.npz", X=x)
    failed = a_run(tmp_path / "failed", status="failed")
    assert cli.main(["score", str(failed), str(tmp_path / "beats.npz")]) == 2
    assert "the run is failed, not complete" in capsys.readouterr().err
    other = a_run(tmp_path / "other")
    runs.write_json(other / runs.DATA_INFO, {"fingerprint": "def"})  # the model was trained on other data
    with pytest.raises(train.TrainingError, match="trained on other data"):
        scoring.load(other)


# ---------------------------------------------------------------- loss_table: every beat of a split (losses.csv)


def tiny_split() -> Split:
    """Beats that are constants times the alternating pattern: beat v scores L1 v * S."""
    beats = lambda *values: np.array([v * ALTERNATING for v in values], np.float32)
    return Split(train=beats(1, 2, 3), val=beats(4, 5), test=beats(6, 7), anomalies=beats(10, 11, 12, 13, 14),
                 anomaly_targets=np.array([2, 3, 4, 5, 2]),
                 val_anomaly_mask=np.array([False, False, True, False, True]))


def a_detector(split: Split, **parameters) -> Detector:
    """The constant model as a detector calibrated on the split's training beats."""
    model = Ensemble([constant_model(np.zeros(S))])
    cfg = Config(downsample=1, **parameters)
    return Detector(cfg).calibrate(model, pd.DataFrame({"member": [0], "epoch": [1]}), split.train)


def test_loss_table_has_one_row_per_beat_of_every_set():
    split = tiny_split()
    det = a_detector(split, score_sigma=2.0)
    table = detect.loss_table(det, split)
    parts = list(det.score_parts(split.test).columns)  # shape, distance, ..., score
    assert parts[0] == "shape" and parts[-1] == "score" and set(COLUMNS) <= set(parts)
    assert list(table.columns) == ["set", "target", "label", "l1_sum", *parts, "anomaly_score", "tutorial"]
    assert table.index.tolist() == list(range(12))
    expected = pd.DataFrame({
        "set": ["train"] * 3 + ["val"] * 2 + ["test"] * 2 + ["val_anomaly"] * 2 + ["test_anomaly"] * 3,
        "target": [1] * 7 + [4, 2] + [2, 3, 5],
        "label": ["Normal"] * 7 + ["SP", "R on T"] + ["R on T", "PVC", "UB"],
        # the first len(test) = 2 anomalies in shuffled order are the tutorial's: both in test_anomaly
        "tutorial": [False] * 9 + [True, True, False],
    })
    pd.testing.assert_frame_equal(table[expected.columns], expected, check_dtype=False)
    np.testing.assert_allclose(table["l1_sum"], np.r_[1, 2, 3, 4, 5, 6, 7, 12, 14, 10, 11, 13] * S, rtol=1e-6)
    np.testing.assert_array_equal(table["anomaly_score"], table["score"])
    # every set but train is scored as any beats are; the training beats leave themselves out
    others = table["set"] != "train"
    beats = np.r_[split.val, split.test, split.val_anomalies, split.test_anomalies]
    np.testing.assert_allclose(table.loc[others, "score"], det.decision_function(beats), rtol=1e-6)
    loo = det.score_parts(split.train, leave_one_out=True)
    np.testing.assert_allclose(table.loc[~others, "distance"], loo["distance"], rtol=1e-6)
    assert (loo["distance"] > 0).all() and (det.score_parts(split.train)["distance"] == 0).all()
    # sigma 2 is passed on: the alternating residual mostly cancels in the shape score, never in l1_sum
    assert (table["shape"] < 0.1 * table["l1_sum"]).all()


def test_loss_table_of_the_autoencoder_alone_at_sigma_0_is_the_tutorials_l1_sum():
    split = tiny_split()
    table = detect.loss_table(a_detector(split, score_sigma=0.0, distance_weight=0.0, spectrum_weight=0.0), split)
    np.testing.assert_allclose(table["anomaly_score"], table["l1_sum"], rtol=1e-6)


def test_loss_table_marks_only_the_first_anomalies_as_the_tutorials():
    split = tiny_split()
    mask = np.array([False, False, False, False, True])  # the tutorial's two and two more in test_anomaly
    split = Split(split.train, split.val, split.test, split.anomalies, split.anomaly_targets, mask)
    table = detect.loss_table(a_detector(split), split)
    test_anomaly = table[table["set"] == "test_anomaly"]
    np.testing.assert_allclose(test_anomaly["l1_sum"], np.r_[10, 11, 12, 13] * S, rtol=1e-6)
    assert test_anomaly["tutorial"].tolist() == [True, True, False, False]
    assert table["tutorial"].sum() == 2 and table["tutorial"].dtype == bool


def test_loss_table_without_validation_anomalies():
    # val_anomaly_fraction 0 (allowed with the fixed and train_percentile rules) holds out no anomaly
    split = tiny_split()
    split = Split(split.train, split.val, split.test, split.anomalies, split.anomaly_targets, np.zeros(5, bool))
    table = detect.loss_table(a_detector(split, score_sigma=2.0), split)
    assert table["set"].value_counts().to_dict() == {"train": 3, "val": 2, "test": 2, "test_anomaly": 5}
    assert table["tutorial"].tolist() == [False] * 7 + [True, True, False, False, False]


# ---------------------------------------------------------------- end to end: a report, then its detector


@pytest.mark.slow
def test_two_channel_csv_of_ones_own_renders_a_report_whose_detector_scores_like_04(tmp_path, capsys):
    """The one full report here (~1 min); .npz reading is checked at unit level, here it holds the scored beats."""
    x, y = two_channel_beats()
    data = tmp_path / "mine.csv"  # a header row: label, then a_0 … a_19, b_0 … b_19 (two channels)
    columns = {f"{ch}_{t}": x[:, t, c] for c, ch in enumerate("ab") for t in range(T)}
    pd.DataFrame({"label": y} | columns).to_csv(data, index=False)
    reports = tmp_path / "reports"
    code = cli.main(["run", "-f", str(REPO / "params/smoke.yaml"), "-p", "normal_label", "0", "--data", str(data),
                     "--name", "mine", "--reports", str(reports)])
    assert code == 0, capsys.readouterr().err
    run_dir = reports / "mine"
    assert (run_dir / "index.html").is_file() and run_state.read_status(run_dir)["status"] == "complete"
    info = json.loads((run_dir / runs.DATA_INFO).read_text())
    assert info["dataset"] == data.name and info["class_names"] == {"0": "0", "3": "3"}
    held_out = json.loads((run_dir / runs.METRICS).read_text())["held_out"]
    assert (held_out["n_normal"], held_out["n_anomaly"]) == (6, 33) and list(held_out["per_class"]) == ["3"]

    split = np.load(run_dir / runs.SPLIT)
    test_beats = np.r_[split["test"], split["anomalies"][~split["val_anomaly_mask"]]]
    assert test_beats.shape == (39, T, F)
    np.savez(tmp_path / "test.npz", X=test_beats)
    capsys.readouterr()
    assert cli.main(["score", "mine", str(tmp_path / "test.npz"), "--reports", str(reports),
                     "-o", str(tmp_path / "flags.csv")]) == 0
    flagged = pd.read_csv(tmp_path / "flags.csv")["flagged"]
    confusion = held_out["confusion"]
    assert flagged[:6].sum() == confusion["fp"] and flagged[6:].sum() == confusion["tp"]
    assert capsys.readouterr().err.startswith(f"{confusion['fp'] + confusion['tp']} of 39 beats flagged")
    assert held_out["roc_auc"] > 0.9  # tripled beats stand out even after two epochs
