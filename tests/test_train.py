"""Training loop, checkpoints and scoring on tiny synthetic heartbeats (seconds, not minutes)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ecgnb import config, score, train
from ecgnb.model import InputShapeError, RecurrentAutoencoder
from ecgnb.train import TrainingError, build_model, fit, kept_epochs, load_checkpoint, save_checkpoint

SEQ = 24


def beats(n: int, seed: int) -> np.ndarray:
    """Noisy sine 'heartbeats' (n, SEQ), float32."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, SEQ)
    return (np.sin(t)[None] * rng.uniform(0.5, 1.5, (n, 1)) + 0.05 * rng.standard_normal((n, SEQ))).astype(np.float32)


@pytest.fixture
def cfg():
    return config.Config(embedding_dim=4, members=1, epochs=3, batch_size=8, lr=0.01, threshold_rule="fixed", select_by="val_l1")


def train_small(cfg, **kw):
    model = build_model(cfg, seq_len=SEQ)
    history = fit(model, beats(64, 0), beats(16, 1), cfg, progress=False, **kw)
    return model, history


def test_history_has_one_row_per_epoch_and_learning_happens(cfg):
    _, history = train_small(cfg.replace(epochs=6))
    assert list(history.columns) == ["member", "epoch", "train_loss", "val_l1", "lr", "seconds", "best"]
    assert history.epoch.tolist() == [1, 2, 3, 4, 5, 6] and set(history.member) == {0}
    assert history.val_l1.min() < history.val_l1.iloc[0]


def test_same_params_give_the_same_weights(cfg):
    a, ha = train_small(cfg)
    b, hb = train_small(cfg)
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert ha.val_l1.tolist() == hb.val_l1.tolist()
    c, _ = train_small(cfg.replace(seed=7))
    assert not torch.equal(a.members[0].out.weight, c.members[0].out.weight)


def test_keeps_the_best_validation_weights(cfg):
    model, history = train_small(cfg.replace(epochs=5, lr=0.05))
    best = history.val_l1.min()
    got = score.score(model, beats(16, 1)).l1_sum.mean()
    assert got == pytest.approx(best, rel=1e-4)


def test_select_by_last_keeps_the_weights_training_ended_with(cfg):
    snapshots = []
    model = build_model(cfg, seq_len=SEQ)
    keep = lambda row: snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
    history = fit(model, beats(64, 0), beats(16, 1), cfg.replace(epochs=5, lr=0.05, select_by="last"), progress=False,
                  on_epoch=keep)
    assert history.best.all() and kept_epochs(history).epoch.tolist() == [5]
    assert all(torch.equal(v, snapshots[-1][k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, snapshots[-2][k]) for k, v in model.state_dict().items())


def test_select_by_roc_auc_keeps_the_epoch_that_separates_best(cfg):
    normals, anomalies = beats(16, 1), -beats(16, 2)  # upside-down beats as the "anomalies"
    model, history = train_small(cfg.replace(epochs=5, lr=0.05, select_by="val_roc_auc"), val_anomalies=anomalies)
    assert "val_roc_auc" in history and history.val_roc_auc.between(0, 1).all()
    kept = train.kept_epochs(history).loc[0]
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
    a, b = build_model(cfg, seq_len=SEQ).members[0], build_model(cfg, seq_len=SEQ).members[0]
    assert torch.equal(a.enc1.weight_hh_l0, b.enc1.weight_hh_l0)
    h = a.enc1.hidden_size
    assert a.enc1.bias_ih_l0[h:2 * h].min() >= 0 and torch.count_nonzero(a.enc1.bias_hh_l0) == 0  # chrono
    plain = build_model(cfg.replace(lstm_init="pytorch"), seq_len=SEQ).members[0]
    assert torch.count_nonzero(plain.enc1.bias_hh_l0) > 0
    other = build_model(cfg.replace(train_seed=7), seq_len=SEQ).members[0]
    assert not torch.equal(a.enc1.weight_hh_l0, other.enc1.weight_hh_l0)  # train_seed, not seed, sets the weights
    same = build_model(cfg.replace(seed=7, train_seed=cfg.seed), seq_len=SEQ).members[0]
    assert torch.equal(a.enc1.weight_hh_l0, same.enc1.weight_hh_l0)


# ---------------------------------------------------------------- ensembles


def train_ensemble(cfg, members=2, **kw):
    model = build_model(cfg.replace(members=members), seq_len=SEQ)
    return model, fit(model, beats(64, 0), beats(16, 1), cfg.replace(members=members), progress=False, **kw)


def test_members_start_apart_train_apart_and_repeat_exactly(cfg):
    model, history = train_ensemble(cfg)
    assert len(model.members) == 2 and history.groupby("member").epoch.apply(list).tolist() == [[1, 2, 3]] * 2
    a, b = model.members
    assert not torch.equal(a.out.weight, b.out.weight)
    again, history_again = train_ensemble(cfg)
    for (name, w), w_again in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(w, w_again), name
    assert history.drop(columns="seconds").equals(history_again.drop(columns="seconds"))


def test_a_member_trained_beside_another_is_the_member_trained_alone(cfg):
    """Side by side (threads) changes the wall time only: member 1 equals a lone model from its seed."""
    model, _ = train_ensemble(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // 2))  # the share of the cores each member had
    try:
        alone = build_model(cfg.replace(train_seed=train.member_seed(cfg, 1)), seq_len=SEQ)
        fit(alone, beats(64, 0), beats(16, 1), cfg.replace(train_seed=train.member_seed(cfg, 1)), progress=False)
    finally:
        torch.set_num_threads(threads)
    for (name, w), w_alone in zip(model.members[1].state_dict().items(), alone.members[0].state_dict().values()):
        assert torch.equal(w, w_alone), name


def test_an_ensemble_scores_a_beat_by_the_mean_of_its_members_scores(cfg):
    model, _ = train_ensemble(cfg)
    x = beats(10, 4)
    ensemble, parts = score.score(model, x, 2.0), [score.score(m, x, 2.0) for m in model.members]
    np.testing.assert_allclose(ensemble.anomaly_score, (parts[0].anomaly_score + parts[1].anomaly_score) / 2,
                               rtol=1e-6)
    np.testing.assert_allclose(ensemble.reconstruction, (parts[0].reconstruction + parts[1].reconstruction) / 2,
                               rtol=1e-5, atol=1e-6)
    assert score.embed(model, x).shape == (10, 2 * cfg.embedding_dim)  # the members' codes side by side


def test_a_failing_member_stops_the_ensemble_naming_the_member(cfg):
    ensemble = cfg.replace(members=2)
    model = build_model(ensemble, seq_len=SEQ)
    model.members[1].forward = lambda x: x * float("nan")  # member 1 diverges at once
    with pytest.raises(TrainingError, match=r"^member 1, epoch 1, batch 1: training loss is nan"):
        fit(model, beats(64, 0), beats(16, 1), ensemble, progress=False)


def test_an_ensemble_checkpoint_round_trips(cfg, tmp_path):
    model, history = train_ensemble(cfg)
    save_checkpoint(tmp_path / "model.pt", model, cfg.replace(members=2), history, fingerprint="abc")
    loaded, ckpt = load_checkpoint(tmp_path / "model.pt", cfg.replace(members=2), fingerprint="abc")
    assert len(loaded.members) == 2 and ckpt["model_args"]["members"] == 2
    x = beats(4, 3)
    np.testing.assert_array_equal(score.score(loaded, x, 2.0).anomaly_score, score.score(model, x, 2.0).anomaly_score)


def test_progress_bar_is_plain_stdout_text_not_a_stderr_block(cfg, capsys):
    fit(build_model(cfg, seq_len=SEQ), beats(16, 0), beats(8, 1), cfg.replace(epochs=1))
    out, err = capsys.readouterr()
    assert "training: 100%" in out and err == ""
