"""ecgnb.score on a model whose reconstruction is known: scores and the smoothed anomaly score.

A RecurrentAutoencoder whose output layer is zero returns its ``mean`` buffer for every input, so
every residual, L1 sum and table row can be worked out by hand. Nothing here trains.
"""

import numpy as np
import pytest
import torch

from ecgnb import score
from ecgnb.model import InputShapeError, RecurrentAutoencoder

T = 24
ALTERNATING = np.where(np.arange(T) % 2 == 0, 1.0, -1.0)  # sample-to-sample noise at its worst


def constant_model(curve: np.ndarray, n_features: int = 1) -> RecurrentAutoencoder:
    """A model that reconstructs every sequence as ``curve`` (T, F): zero output layer, scaling mean = curve."""
    model = RecurrentAutoencoder(seq_len=len(curve), n_features=n_features, embedding_dim=2)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
        model.mean.copy_(torch.as_tensor(curve, dtype=torch.float32).reshape(len(curve), n_features))
    return model


# ---------------------------------------------------------------- score and smoothed_l1


def test_scores_are_the_l1_of_the_residual_per_beat():
    curve = np.linspace(-1.0, 1.0, T)
    x = np.stack([curve + 0.5, curve - 2.0, curve]).astype(np.float32)  # off by 0.5, -2, 0 everywhere
    s = score.score(constant_model(curve), x)
    np.testing.assert_allclose(s.reconstruction, np.tile(curve, (3, 1)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s.l1_sum, [0.5 * T, 2.0 * T, 0.0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.l1_mean, [0.5, 2.0, 0.0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s.anomaly_score, s.l1_sum)  # sigma 0: the tutorial's score
    # a constant residual stays constant under the low-pass: the smoothed score is the same
    np.testing.assert_allclose(score.score(constant_model(curve), x, sigma=2.0).anomaly_score, [0.5 * T, 2.0 * T, 0.0],
                               rtol=1e-5, atol=1e-5)


def test_the_anomaly_score_low_passes_the_residual_before_summing_it():
    model = constant_model(np.zeros(T))
    x = np.stack([ALTERNATING, np.r_[np.zeros(8), np.ones(8), np.zeros(8)]]).astype(np.float32)
    plain, smooth = score.score(model, x), score.score(model, x, sigma=2.0)
    np.testing.assert_allclose(plain.l1_sum, [T, 8.0], rtol=1e-6)
    assert smooth.anomaly_score[0] < 0.1 * T  # the noise cancels (only the edges keep some)
    assert smooth.anomaly_score[1] == pytest.approx(8.0, rel=1e-3)  # a shape error of 8 samples counts in full
    np.testing.assert_array_equal(smooth.l1_sum, plain.l1_sum)  # the L1 columns never smooth


def test_score_takes_arrays_tensors_and_several_features():
    curve = np.zeros((T, 2))
    x = np.ones((4, T, 2), np.float32)
    x[:, :, 1] = 3.0
    s = score.score(constant_model(curve, n_features=2), torch.as_tensor(x))
    assert s.reconstruction.shape == (4, T, 2)
    np.testing.assert_allclose(s.l1_sum, np.full(4, 4.0 * T))  # |1| + |3| per time step
    np.testing.assert_allclose(s.l1_mean, np.full(4, 2.0))  # averaged over time steps and features
    with pytest.raises(InputShapeError):
        score.score(constant_model(np.zeros(T)), np.zeros((2, T + 1), np.float32))


@pytest.mark.parametrize("batch_size", [1, 2, 5, 1024])
def test_scores_do_not_depend_on_the_batch_size(batch_size):
    torch.manual_seed(0)
    model = RecurrentAutoencoder(seq_len=T, embedding_dim=3)
    x = np.random.default_rng(0).standard_normal((5, T)).astype(np.float32)
    reference = score.score(model, x, sigma=1.0, batch_size=5)
    got = score.score(model, x, sigma=1.0, batch_size=batch_size)
    np.testing.assert_allclose(got.reconstruction, reference.reconstruction, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.anomaly_score, reference.anomaly_score, rtol=1e-5)
    np.testing.assert_allclose(score.embed(model, x, batch_size=batch_size), score.embed(model, x, batch_size=5),
                               rtol=1e-5, atol=1e-6)


def test_no_beats_give_empty_scores():
    s = score.score(constant_model(np.zeros(T)), np.zeros((0, T), np.float32), sigma=2.0)
    assert s.reconstruction.shape == (0, T)
    assert s.l1_sum.shape == s.l1_mean.shape == s.anomaly_score.shape == (0,)
    lstm = score.score(RecurrentAutoencoder(seq_len=T, n_features=1, embedding_dim=2), np.zeros((0, T), np.float32))
    assert lstm.anomaly_score.shape == (0,)  # the real model takes an empty batch too


def test_scoring_leaves_the_model_in_eval_mode_without_gradients():
    model = constant_model(np.zeros(T)).train()
    s = score.score(model, np.ones((2, T), np.float32))
    assert not model.training and isinstance(s.reconstruction, np.ndarray)


def test_embed_gives_the_encoders_code_for_each_beat():
    torch.manual_seed(0)
    model = RecurrentAutoencoder(seq_len=T, embedding_dim=3).eval()
    x = np.random.default_rng(1).standard_normal((4, T)).astype(np.float32)
    with torch.no_grad():
        _, (h_n, _) = model.enc2(model.enc1(torch.as_tensor(x).unsqueeze(-1))[0])  # the last hidden state
    np.testing.assert_allclose(score.embed(model, x), h_n[0].numpy(), rtol=1e-5, atol=1e-6)


def test_smoothed_l1_drops_noise_and_keeps_shape_errors():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((200, 140)).astype(np.float32)
    bump = np.zeros((1, 140), np.float32)
    bump[0, 60:80] = 1.0  # a wrong shape 20 samples long
    np.testing.assert_allclose(score.smoothed_l1(noise, 0.0), np.abs(noise).sum(1), rtol=1e-6)
    assert score.smoothed_l1(noise, 2.0).mean() < 0.4 * np.abs(noise).sum(1).mean()  # theory: 1/sqrt(4 sqrt(pi))
    assert score.smoothed_l1(bump, 2.0)[0] == pytest.approx(20.0, rel=1e-3)  # an area is kept whole
    assert score.smoothed_l1(np.full((1, 140), 0.5, np.float32), 2.0)[0] == pytest.approx(70.0)


@pytest.mark.parametrize("sigma, low, high", [(0.5, 0.5, 0.65), (1.0, 0.0, 0.1), (2.0, 0.0, 0.1)])
def test_the_low_pass_is_a_gaussian_of_sigma_samples(sigma, low, high):
    # the sampled Gaussian's gain at the alternating frequency: sum_k w_k (-1)^k, 0.57 at sigma 0.5
    # (weights .107 .787 .107), under 1 % from sigma 1 on; the two edges add a few percent
    got = score.smoothed_l1(np.stack([ALTERNATING, -ALTERNATING])[..., None], sigma)
    assert got[0] == got[1] and low * T < got[0] < high * T
    edge = np.r_[np.ones(4), np.zeros(T - 4)][None, :, None]  # 'nearest': the first value continues outwards
    assert score.smoothed_l1(edge, 2.0)[0] == pytest.approx(4.0, rel=0.01)  # the area stays whole at the edge too
    # so an error in the first sample alone weighs 1/2 + w_0/2 + E[max(K, 0)] ~ 1.38 for K ~ the kernel
    # (a mirrored edge would give 1.0, a zero one 0.6)
    spike = np.r_[1.0, np.zeros(T - 1)][None, :, None]
    assert score.smoothed_l1(spike, 2.0)[0] == pytest.approx(1.38, abs=0.02)
