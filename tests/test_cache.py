"""ecgnb.cache: a trained model is reused only for the very same training, and a bad entry is retrained."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from ecgnb import cache, data, train
from ecgnb.config import Config
from ecgnb.detector import Detector

SEQ = 24


def beats(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, SEQ)
    return (np.sin(t)[None] + shift + 0.05 * rng.standard_normal((n, SEQ))).astype(np.float32)


def tiny_split() -> data.Split:
    return data.Split(train=beats(32, 0), val=beats(8, 1), test=beats(4, 2), anomalies=beats(10, 3, shift=1.0),
                      anomaly_targets=np.full(10, 2), val_anomaly_mask=np.arange(10) < 5)


CFG = Config(embedding_dim=4, members=1, epochs=2, min_steps=0, batch_size=8, lr=0.01, select_by="val_l1")

# another valid value for every parameter that can change the trained weights
OTHER = {"seed": 7, "train_seed": 3, "device": "cpu", "val_anomaly_fraction": 0.3, "embedding_dim": 8,
         "lstm_init": "pytorch", "members": 3, "epochs": 3, "batch_size": 4, "lr": 0.02, "lr_schedule": "constant",
         "grad_clip": 1.0, "bf16": True, "patience": 2, "select_by": "last", "loss": "mse", "normalize": True,
         "checkpoint": "other.pt", "score_sigma": 1.0, "downsample": 2, "dataset": "ECG200", "normal_label": 2,
         "min_steps": 40}
AFTER = {"data_path": "/elsewhere/ECG5000.zip", "threshold_rule": "val_best_f1", "threshold_value": 30.0,
         "threshold_percentile": 95.0, "target_recall": 0.9, "distance_k": 5, "distance_weight": 0.0,
         "spectrum_weight": 0.0}


RECORDING = {"recording": "other.csv", "fs": 500.0, "lead": "b"}  # checked together: each needs the others


def test_every_parameter_is_either_a_key_part_or_acts_after_training():
    assert set(OTHER) | set(AFTER) | set(RECORDING) == {f.name for f in dataclasses.fields(Config)}
    assert set(AFTER) == set(cache.AFTER_TRAINING)


@pytest.mark.parametrize("name", sorted(RECORDING))
def test_another_recording_lead_or_rate_changes_the_key(name):
    base = CFG.replace(recording="r.csv", fs=250.0, lead="a")
    assert cache.key(base.replace(**{name: RECORDING[name]}), tiny_split()) != cache.key(base, tiny_split())


@pytest.mark.parametrize("name", sorted(OTHER))
def test_a_parameter_that_shapes_training_changes_the_key(name):
    assert cache.key(CFG.replace(**{name: OTHER[name]}), tiny_split()) != cache.key(CFG, tiny_split())


@pytest.mark.parametrize("name", sorted(AFTER))
def test_a_parameter_that_acts_after_training_keeps_the_key(name):
    assert cache.key(CFG.replace(**{name: AFTER[name]}), tiny_split()) == cache.key(CFG, tiny_split())


@pytest.mark.parametrize("part", ["train", "val", "anomalies"])
def test_other_training_inputs_change_the_key(part):
    split = tiny_split()
    changed = dataclasses.replace(split, **{part: getattr(split, part).copy()})
    getattr(changed, part)[0, 3] += 1e-3
    assert cache.key(CFG, changed) != cache.key(CFG, split)


def test_test_beats_are_not_training_inputs():
    split = tiny_split()
    assert cache.key(CFG, dataclasses.replace(split, test=split.test + 1)) == cache.key(CFG, split)


def test_other_code_or_torch_changes_the_key(tmp_path, monkeypatch):
    before = cache.key(CFG, tiny_split())
    code = tmp_path / "ecgnb"
    shutil.copytree(cache.PACKAGE, code)
    monkeypatch.setattr(cache, "PACKAGE", code)
    assert cache.key(CFG, tiny_split()) == before
    (code / "train.py").write_text((code / "train.py").read_text() + "\n# an edit\n")
    assert cache.key(CFG, tiny_split()) != before
    monkeypatch.setattr(cache, "PACKAGE", cache.Path(train.__file__).resolve().parent)
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert cache.key(CFG, tiny_split()) != before


@pytest.mark.parametrize("name", cache.ROUNDING_ENV)
def test_a_setting_that_changes_the_rounding_changes_the_key(name, monkeypatch):
    monkeypatch.delenv(name, raising=False)
    before = cache.key(CFG, tiny_split())
    monkeypatch.setenv(name, "AVX2")
    assert cache.key(CFG, tiny_split()) != before


def test_another_thread_count_changes_the_key():
    threads = torch.get_num_threads()
    before = cache.key(CFG, tiny_split())
    try:
        torch.set_num_threads(threads + 1)
        assert cache.key(CFG, tiny_split()) != before
    finally:
        torch.set_num_threads(threads)


def fit_or_reuse(log: list[str], cfg: Config = CFG) -> Detector:
    return cache.fit_or_reuse(Detector(cfg), tiny_split(), "fp", log=log.append)


def test_the_key_is_that_of_the_sized_parameters():
    """``downsample: null`` sizes itself to the beats (24 samples: every sample), so it keys as 1 does."""
    assert cache.key(CFG.replace(downsample=None), tiny_split()) == cache.key(CFG.replace(downsample=1), tiny_split())


def test_off_unless_the_environment_names_a_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(data.MODEL_CACHE_ENV, raising=False)
    log: list[str] = []
    fit_or_reuse(log)
    assert log == [] and cache.folder() is None


def test_the_second_identical_training_is_served_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(data.MODEL_CACHE_ENV, str(tmp_path))
    log: list[str] = []
    first = fit_or_reuse(log)
    assert log[-1].startswith("cache: stored") and len(list(tmp_path.glob("*.pt"))) == 1
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained although the cache holds the model"))
    again = fit_or_reuse(log)
    assert log[-1].startswith("cache: reused")
    for (name, w), w_again in zip(first.model_.state_dict().items(), again.model_.state_dict().values()):
        assert torch.equal(w, w_again), name
    assert again.history_.drop(columns="seconds").equals(first.history_.drop(columns="seconds"))
    assert again.config_ == first.config_ and again.threshold_ == first.threshold_
    beats = tiny_split().test
    pd.testing.assert_frame_equal(again.score_parts(beats), first.score_parts(beats))


def test_a_parameter_after_training_reuses_the_model_and_calibrates_again(monkeypatch, tmp_path):
    monkeypatch.setenv(data.MODEL_CACHE_ENV, str(tmp_path))
    log: list[str] = []
    first = fit_or_reuse(log)
    alone = fit_or_reuse(log, CFG.replace(distance_weight=0.0, spectrum_weight=0.0))
    assert log[-1].startswith("cache: reused")
    parts = alone.score_parts(tiny_split().test)
    np.testing.assert_array_equal(parts["score"], parts["shape"])
    assert alone.threshold_ != first.threshold_


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other key"])
def test_a_damaged_entry_is_deleted_and_the_model_trained_again(monkeypatch, tmp_path, damage):
    monkeypatch.setenv(data.MODEL_CACHE_ENV, str(tmp_path))
    log: list[str] = []
    fit_or_reuse(log)
    entry, = tmp_path.glob("*.pt")
    if damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:200])
    elif damage == "garbage":
        entry.write_bytes(b"not a model")
    else:  # a valid checkpoint of another training under this name
        other = tmp_path / "other"
        monkeypatch.setenv(data.MODEL_CACHE_ENV, str(other))
        fit_or_reuse(log, CFG.replace(train_seed=5))
        shutil.copy(next(other.glob("*.pt")), entry)
        monkeypatch.setenv(data.MODEL_CACHE_ENV, str(tmp_path))
    fit_or_reuse(log)
    assert any(line.startswith(f"cache: entry {entry.stem[:12]} is damaged") for line in log)
    assert log[-1].startswith("cache: stored")
    train.load_checkpoint(entry, CFG, "fp")  # a whole, valid entry again


def test_a_half_written_entry_is_never_visible(monkeypatch, tmp_path):
    """Entries appear by rename: a writer's temp file does not count as an entry."""
    monkeypatch.setenv(data.MODEL_CACHE_ENV, str(tmp_path))
    digest = cache.key(CFG, tiny_split())
    (tmp_path / f".{digest}.pt.tmp-12345").write_bytes(b"half")
    log: list[str] = []
    fit_or_reuse(log)
    assert log == [f"cache: stored the trained model as {digest[:12]}"]
