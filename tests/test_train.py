"""Training loop, checkpoints and scoring on tiny synthetic heartbeats (seconds, not minutes)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ecgnb import config, score, train
from ecgnb.model import InputShapeError, RecurrentAutoencoder
from ecgnb.train import TrainingError, fit, load_checkpoint, save_checkpoint

SEQ = 24


def beats(n: int, seed: int) -> np.ndarray:
    """Noisy sine 'heartbeats' (n, SEQ), float32."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, SEQ)
    return (np.sin(t)[None] * rng.uniform(0.5, 1.5, (n, 1)) + 0.05 * rng.standard_normal((n, SEQ))).astype(np.float32)


@pytest.fixture
def cfg():
    return config.Config(embedding_dim=4, epochs=3, batch_size=8, lr=0.01, threshold_rule="fixed", select_by="val_l1")


def train_small(cfg, **kw):
    model = RecurrentAutoencoder(seq_len=SEQ, embedding_dim=cfg.embedding_dim)
    history = fit(model, beats(64, 0), beats(16, 1), cfg, progress=False, **kw)
    return model, history


def test_history_has_one_row_per_epoch_and_learning_happens(cfg):
    _, history = train_small(cfg.replace(epochs=6))
    assert list(history.columns) == ["epoch", "train_loss", "val_l1", "lr", "seconds", "best"]
    assert history.epoch.tolist() == [1, 2, 3, 4, 5, 6]
    assert history.val_l1.min() < history.val_l1.iloc[0]


def test_same_params_give_the_same_weights(cfg):
    a, ha = train_small(cfg)
    b, hb = train_small(cfg)
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert ha.val_l1.tolist() == hb.val_l1.tolist()
    c, _ = train_small(cfg.replace(seed=7))
    assert not torch.equal(a.out.weight, c.out.weight)


def test_keeps_the_best_validation_weights(cfg):
    model, history = train_small(cfg.replace(epochs=5, lr=0.05))
    best = history.val_l1.min()
    got = score.score(model, beats(16, 1)).l1_sum.mean()
    assert got == pytest.approx(best, rel=1e-4)


def test_select_by_roc_auc_keeps_the_epoch_that_separates_best(cfg):
    normals, anomalies = beats(16, 1), -beats(16, 2)  # upside-down beats as the "anomalies"
    model, history = train_small(cfg.replace(epochs=5, lr=0.05, select_by="val_roc_auc"), val_anomalies=anomalies)
    assert "val_roc_auc" in history and history.val_roc_auc.between(0, 1).all()
    kept = train.kept_epoch(history)
    assert kept.val_roc_auc == history.val_roc_auc.max()
    assert train.validate(model, torch.as_tensor(normals).unsqueeze(-1), torch.as_tensor(anomalies).unsqueeze(-1),
                          cfg.score_sigma)["val_roc_auc"] == pytest.approx(kept.val_roc_auc)


def test_select_by_roc_auc_without_anomalies_is_a_clear_error(cfg):
    with pytest.raises(TrainingError, match="select_by val_roc_auc needs validation anomalies"):
        train_small(cfg.replace(select_by="val_roc_auc"))


def test_patience_stops_early(cfg):
    _, history = train_small(cfg.replace(epochs=40, patience=1, lr=0.2))
    assert len(history) < 40


def test_nan_in_the_data_stops_with_a_clear_error(cfg):
    bad = beats(64, 0)
    bad[3, 5] = np.nan
    with pytest.raises(TrainingError, match="NaN or inf"):
        fit(RecurrentAutoencoder(seq_len=SEQ, embedding_dim=4), bad, beats(16, 1), cfg, progress=False)


def test_diverging_loss_names_the_epoch(cfg, monkeypatch):
    import ecgnb.train as train_module

    calls = {"n": 0}
    real = train_module.sequence_loss

    def loss_that_blows_up(pred, target, kind="l1"):
        calls["n"] += 1
        value = real(pred, target, kind)
        return value * float("inf") if calls["n"] > 9 else value  # 8 batches per epoch: fails in epoch 2

    monkeypatch.setattr(train_module, "sequence_loss", loss_that_blows_up)
    with pytest.raises(TrainingError, match=r"^epoch 2, batch 2: training loss is"):
        train_small(cfg)


def test_checkpoint_round_trip_and_mismatches(cfg, tmp_path):
    model, history = train_small(cfg)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, cfg, history, fingerprint="abc")
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temp file left
    loaded, ckpt = load_checkpoint(path, cfg, fingerprint="abc")
    assert ckpt["history"]["val_l1"] == history.val_l1.tolist()
    x = beats(4, 3)
    np.testing.assert_array_equal(score.score(loaded, x).l1_sum, score.score(model, x).l1_sum)
    with pytest.raises(TrainingError, match="embedding_dim=4 .run has 8."):
        load_checkpoint(path, cfg.replace(embedding_dim=8))
    with pytest.raises(TrainingError, match="trained on other data"):
        load_checkpoint(path, cfg, fingerprint="other")
    with pytest.raises(TrainingError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="not a readable ecgnb checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def untrained_checkpoint(path, cfg, **changes):
    """A checkpoint of a fresh model (nothing trained), with payload keys replaced or (value None) removed."""
    model = RecurrentAutoencoder(seq_len=SEQ, embedding_dim=cfg.embedding_dim)
    save_checkpoint(path, model, cfg, pd.DataFrame({"epoch": [1], "val_l1": [1.0]}), fingerprint="abc")
    payload = torch.load(path, weights_only=True)
    for key, value in changes.items():
        payload.pop(key) if value is None else payload.__setitem__(key, value)
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("key", ["config", "fingerprint", "model_args", "state_dict"])
def test_a_checkpoint_missing_a_key_is_the_one_line_unreadable_error(cfg, tmp_path, key):
    path = untrained_checkpoint(tmp_path / "model.pt", cfg, **{key: None})
    for args in ((), (cfg, "abc")):
        with pytest.raises(TrainingError) as err:
            load_checkpoint(path, *args)
        assert str(err.value) == f"{path}: not a readable ecgnb checkpoint (KeyError); delete it and train again"


def test_a_checkpoint_of_another_seed_is_refused(cfg, tmp_path):
    # another seed trained on other normals: some of them are this run's test beats
    path = untrained_checkpoint(tmp_path / "model.pt", cfg)
    with pytest.raises(TrainingError) as err:
        load_checkpoint(path, cfg.replace(seed=7))
    assert str(err.value) == (f"{path}: checkpoint was trained with other parameters: seed=42 (run has 7); "
                              "use matching parameters or train a new model")
    with pytest.raises(TrainingError, match=r"seed=42 \(run has 7\), embedding_dim=4 \(run has 8\);"):
        load_checkpoint(path, cfg.replace(seed=7, embedding_dim=8))
    with pytest.raises(TrainingError) as err:
        load_checkpoint(path, cfg, fingerprint="other")
    assert str(err.value) == (f"{path}: checkpoint was trained on other data (fingerprint abc, this data other); "
                              "train a new model on this data")
    model, ckpt = load_checkpoint(path, cfg.replace(epochs=9, lr=0.5), fingerprint="abc")  # other keys may differ
    assert not model.training and ckpt["config"]["seed"] == 42


def test_a_pickled_payload_is_refused_without_running_it(cfg, tmp_path):
    # weights_only loading: a checkpoint carrying arbitrary objects is not unpickled, so its code never runs
    marker = tmp_path / "code-ran"
    path = untrained_checkpoint(tmp_path / "model.pt", cfg, history=RunsCode(marker))
    with pytest.raises(TrainingError) as err:
        load_checkpoint(path)
    assert str(err.value) == f"{path}: not a readable ecgnb checkpoint (UnpicklingError); delete it and train again"
    assert not marker.exists()
    torch.load(path, weights_only=False)  # what weights_only prevents
    assert marker.exists()


class RunsCode:
    """Unpickling this calls Path.touch: any code could stand there."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_interrupted_training_leaves_the_last_checkpoint_intact(cfg, tmp_path):
    model, history = train_small(cfg)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, cfg, history, fingerprint="abc")
    before = path.read_bytes()

    def ctrl_c(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_small(cfg, on_epoch=ctrl_c)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_wrong_sequence_length_for_a_checkpoint_is_a_clear_error(cfg, tmp_path):
    model, history = train_small(cfg)
    save_checkpoint(tmp_path / "model.pt", model, cfg, history, fingerprint="abc")
    loaded, _ = load_checkpoint(tmp_path / "model.pt")
    with pytest.raises(InputShapeError, match="sequences of length 24 with 1 feature"):
        score.score(loaded, np.zeros((3, 30), np.float32))


def test_scores_are_per_sequence_l1(cfg):
    model, _ = train_small(cfg)
    x = beats(10, 4)
    s = score.score(model, x)
    assert s.reconstruction.shape == (10, SEQ)
    np.testing.assert_allclose(s.l1_sum, np.abs(s.reconstruction - x).sum(1), rtol=1e-5)
    np.testing.assert_allclose(s.l1_mean, s.l1_sum / SEQ, rtol=1e-5)
    np.testing.assert_array_equal(s.anomaly_score, s.l1_sum)  # sigma 0: the tutorial's score
    smooth = score.score(model, x, sigma=2.0).anomaly_score
    np.testing.assert_allclose(smooth, score.smoothed_l1(s.reconstruction - x, 2.0), rtol=1e-5)
    assert (smooth <= s.l1_sum * (1 + 1e-6)).all()  # averaging never adds error
    assert score.embed(model, x).shape == (10, 4)


def test_build_model_is_seeded_and_follows_lstm_init(cfg):
    from ecgnb.train import build_model

    a, b = build_model(cfg, seq_len=SEQ), build_model(cfg, seq_len=SEQ)
    assert torch.equal(a.enc1.weight_hh_l0, b.enc1.weight_hh_l0)
    h = a.enc1.hidden_size
    assert a.enc1.bias_ih_l0[h:2 * h].min() >= 0 and torch.count_nonzero(a.enc1.bias_hh_l0) == 0  # chrono
    plain = build_model(cfg.replace(lstm_init="pytorch"), seq_len=SEQ)
    assert torch.count_nonzero(plain.enc1.bias_hh_l0) > 0
