"""The k-NN distance baseline: distances with known answers, and a split it must separate."""

import numpy as np
import pytest

from ecgnb import baseline, data
from ecgnb.config import Config

LINE = np.array([[0.0], [1.0], [2.0], [10.0]])


def test_knn_distance_is_the_mean_distance_to_the_k_nearest_rows():
    assert baseline.knn_distance(LINE, np.array([[3.0], [10.0]]), k=2) == pytest.approx([1.5, 4.0])


def test_exclude_self_scores_training_rows_leave_one_out():
    assert baseline.knn_distance(LINE, LINE, k=1, exclude_self=True) == pytest.approx([1.0, 1.0, 1.0, 8.0])
    assert baseline.knn_distance(LINE, LINE, k=1) == pytest.approx([0.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("k, exclude_self", [(0, False), (5, False), (4, True)])
def test_k_out_of_range_is_an_error(k, exclude_self):
    with pytest.raises(ValueError, match="k must be in 1.."):
        baseline.knn_distance(LINE, LINE, k=k, exclude_self=exclude_self)


def planted_split(seed: int = 0) -> data.Split:
    """Sine-shaped normals; anomalies lifted by 1; test normal 0 lifted too (an odd normal)."""
    rng = np.random.default_rng(seed)
    beats = lambda n, lift: (np.sin(np.linspace(0, 6, 140)) + lift + 0.05 * rng.standard_normal((n, 140))
                             ).astype(np.float32)
    test = beats(6, 0.0)
    test[0] += 1.0
    mask = np.arange(20) >= 10  # like the real split: the first len(test) anomalies are tested on
    return data.Split(train=beats(40, 0.0), val=beats(10, 0.0), test=test, anomalies=beats(20, 1.0),
                      anomaly_targets=np.r_[np.full(10, 2), np.full(10, 3)], val_anomaly_mask=mask)


def test_evaluate_separates_lifted_beats_and_flags_the_odd_normal():
    got = baseline.evaluate(Config(threshold_rule="val_best_balanced_accuracy"), planted_split())
    assert got["method"] == "5-NN distance" and got["threshold"]["rule"] == "val_best_balanced_accuracy"
    assert got["test_normal_flagged"] == [True, False, False, False, False, False]
    held_out = got["held_out"]
    assert (held_out["n_normal"], held_out["n_anomaly"]) == (6, 10)
    assert held_out["confusion"] == {"tn": 5, "fp": 1, "fn": 0, "tp": 10}
    assert 1 - 10 / 60 <= held_out["roc_auc"] <= 1.0  # only the odd normal can rank among the anomalies
    assert got["tutorial"] == {"normal_correct": 5, "normal_total": 6, "anomaly_correct": 6, "anomaly_total": 6}


def test_a_fixed_threshold_is_replaced_by_the_train_percentile():
    cfg = Config(threshold_rule="fixed", threshold_value=26.0, threshold_percentile=100.0)
    assert baseline.rule_for(cfg).threshold_rule == "train_percentile"
    assert baseline.rule_for(Config()).threshold_rule == Config().threshold_rule  # any rule but fixed: kept
    got = baseline.evaluate(cfg, planted_split())
    assert got["threshold"]["rule"] == "train_percentile" and got["threshold"]["value"] < 26.0


def test_several_channels_are_one_vector_and_other_sets_name_their_classes_without_the_tutorial_check():
    s = planted_split()
    two = data.Split(*(np.stack([a, a], axis=2) for a in (s.train, s.val, s.test, s.anomalies)),
                     anomaly_targets=np.where(s.anomaly_targets == 2, -1, 7), val_anomaly_mask=s.val_anomaly_mask)
    got = baseline.evaluate(Config(threshold_rule="val_best_balanced_accuracy"), two, names={-1: "-1", 7: "7"},
                            tutorial=False)
    assert "tutorial" not in got and got["test_normal_flagged"] == [True, False, False, False, False, False]
    assert {k: v["total"] for k, v in got["held_out"]["per_class"].items()} == {"-1": 10, "7": 0}
    np.testing.assert_allclose(baseline.knn_distance(two.train, two.test),  # both channels count: √2 × one's
                               np.sqrt(2) * baseline.knn_distance(s.train, s.test), rtol=1e-5)
