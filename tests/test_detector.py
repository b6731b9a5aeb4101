"""ecgnb.Detector: sizing from the data, the three score components and their sum, the threshold,
saving and loading. Tiny models on synthetic beats: a few seconds in all."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgnb import Detector, config, score, train
from ecgnb.config import Config
from ecgnb.detector import NotFittedError, sized
from ecgnb.errors import EcgnbError

TINY = dict(members=1, embedding_dim=4, epochs=2, min_steps=0, batch_size=8, lr=0.01)


def beats(n: int, length: int = 40, channels: int = 0, seed: int = 0) -> np.ndarray:
    """Noisy sine beats of one phase: (n, length) or (n, length, channels)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, length)
    x = np.sin(t)[None, :] + 0.1 * rng.standard_normal((n, length))
    if channels:
        x = np.repeat(x[..., None], channels, axis=2) * np.arange(1, channels + 1)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def fitted() -> tuple[Detector, np.ndarray]:
    x = beats(12)
    return Detector(**TINY).fit(x), x


@pytest.mark.parametrize("length, steps", [(40, 1), (70, 1), (71, 2), (140, 2), (1639, 24)])
def test_downsample_null_walks_at_most_70_steps(length, steps):
    cfg = sized(Config(**TINY), n=100, seq_len=length)
    assert cfg.downsample == steps and -(-length // cfg.downsample) <= 70


def test_an_explicit_downsample_is_kept():
    assert sized(Config(**{**TINY, "downsample": 3}), n=100, seq_len=140).downsample == 3


@pytest.mark.parametrize("n, epochs", [(1, 1000), (10, 1000), (40, 334), (100, 143), (2000, 27)])
def test_enough_passes_for_min_steps_and_never_fewer_than_epochs(n, epochs):
    cfg = sized(Config(epochs=27, min_steps=1000, batch_size=16), n=n, seq_len=140)
    assert cfg.batch_size == min(16, n)
    assert cfg.epochs == epochs
    assert cfg.epochs * -(-n // cfg.batch_size) >= 1000 or cfg.epochs == config.MAX_EPOCHS


def test_the_score_is_the_weighted_sum_of_its_parts(fitted):
    det, x = fitted
    parts = det.score_parts(beats(5, seed=1))
    assert list(parts.columns) == ["shape", "distance", "spectrum", "score"]
    w = det.config_
    np.testing.assert_allclose(parts["score"], parts["shape"] + w.distance_weight * parts["distance"]
                               + w.spectrum_weight * parts["spectrum"])
    np.testing.assert_allclose(det.decision_function(beats(5, seed=1)), parts["score"])


def test_the_shape_is_the_autoencoders_score(fitted):
    det, _ = fitted
    x = beats(4, seed=2)
    expected = score.score(det.model_, x, det.config_.score_sigma).anomaly_score
    np.testing.assert_allclose(det.score_parts(x)["shape"], expected, rtol=1e-6)


def test_each_distance_is_brought_to_the_shapes_typical_size(fitted):
    det, x = fitted
    train_parts = det.score_parts(x, leave_one_out=True)
    typical_shape = np.median(det.score_parts(x)["shape"])
    for name in ("distance", "spectrum"):
        assert np.median(train_parts[name]) == pytest.approx(typical_shape, rel=1e-6)


def test_a_training_beat_is_at_distance_zero_and_a_shifted_one_at_spectrum_zero(fitted):
    det, x = fitted
    assert det.score_parts(x[:1])["distance"].iloc[0] == pytest.approx(0.0, abs=1e-4)
    shifted = np.roll(x[:1], 7, axis=1)
    parts = det.score_parts(shifted)
    assert parts["spectrum"].iloc[0] == pytest.approx(0.0, abs=1e-3)
    assert parts["distance"].iloc[0] > 1.0


def test_without_the_distances_the_score_is_the_autoencoders():
    det = Detector(**TINY, distance_weight=0.0, spectrum_weight=0.0).fit(beats(10))
    parts = det.score_parts(beats(3, seed=3))
    np.testing.assert_array_equal(parts["score"], parts["shape"])


def test_the_threshold_is_the_percentile_of_the_training_scores_left_one_out(fitted):
    det, x = fitted
    train_scores = det.score_parts(x, leave_one_out=True)["score"]
    assert det.threshold_ == pytest.approx(np.percentile(train_scores, det.config_.threshold_percentile))
    test = np.r_[beats(5, seed=4), -beats(5, seed=5)]  # upside-down beats: abnormal
    np.testing.assert_array_equal(det.predict(test), (det.decision_function(test) > det.threshold_).astype(int))
    assert det.predict(test)[5:].all()


def test_one_training_beat_is_enough():
    det = Detector(**TINY).fit(beats(1))
    assert all(np.isfinite(v) and v > 0 for v in det.scales_.values())
    assert np.isfinite(det.decision_function(beats(3, seed=6))).all()


def test_several_channels():
    det = Detector(**TINY).fit(beats(8, channels=2))
    assert det.decision_function(beats(3, channels=2, seed=7)).shape == (3,)
    with pytest.raises(EcgnbError, match="feature"):
        det.decision_function(beats(3, seed=7))


def test_saved_and_loaded_it_scores_the_same(fitted, tmp_path):
    det, _ = fitted
    det.save(tmp_path / "d.pt", fingerprint="abc")
    again = Detector.load(tmp_path / "d.pt", fingerprint="abc")
    x = beats(6, seed=8)
    np.testing.assert_allclose(again.decision_function(x), det.decision_function(x), rtol=1e-6)
    assert again.threshold_ == det.threshold_ and again.config_ == det.config_ and again.cfg == det.cfg


def test_a_plain_checkpoint_is_not_a_detector(fitted, tmp_path):
    det, _ = fitted
    train.save_checkpoint(tmp_path / "m.pt", det.model_, det.config_, det.history_, "abc")
    with pytest.raises(EcgnbError, match="no detector"):
        Detector.load(tmp_path / "m.pt")


def test_an_unfitted_detector_says_what_to_do(tmp_path):
    with pytest.raises(NotFittedError, match="call fit"):
        Detector().decision_function(beats(2))
    with pytest.raises(NotFittedError, match="nothing to save"):
        Detector().save(tmp_path / "d.pt")


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 40)), np.zeros((2, 3, 4, 5))])
def test_beats_of_a_wrong_shape_are_a_one_line_error(bad):
    with pytest.raises(EcgnbError, match="beats must be an array"):
        Detector(**TINY).fit(bad)


def test_parameters_are_validated_like_a_params_file():
    with pytest.raises(config.ConfigError, match="distance_weight"):
        Detector(distance_weight=-1.0)
    with pytest.raises(config.ConfigError, match="unknown parameter"):
        Detector(nonsense=1)


def test_the_seed_fixes_the_scores():
    torch.manual_seed(0)
    a = Detector(**TINY, seed=5).fit(beats(8)).decision_function(beats(3, seed=9))
    torch.manual_seed(1)
    b = Detector(**TINY, seed=5).fit(beats(8)).decision_function(beats(3, seed=9))
    np.testing.assert_array_equal(a, b)
