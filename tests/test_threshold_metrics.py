"""Threshold rules and metrics on small hand-made loss sets with known answers."""

import numpy as np
import pytest

from ecgnb import config, metrics, threshold
from ecgnb.errors import EcgnbError

TRAIN = np.arange(1.0, 101.0)  # 1..100
VAL = np.array([5.0, 10.0, 12.0, 14.0, 30.0, 20.0, 40.0, 50.0, 60.0, 13.0])
VAL_IS_ANOMALY = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], dtype=bool)  # normal 30 overlaps; anomaly 13 hides


def choose(rule: str, **kw) -> threshold.Threshold:
    cfg = config.Config(threshold_rule=rule, **kw)
    return threshold.choose(cfg, TRAIN, VAL, VAL_IS_ANOMALY)


def test_fixed_rule_is_the_value():
    t = choose("fixed", threshold_value=26.0)
    assert (t.value, t.rule) == (26.0, "fixed")


def test_train_percentile():
    assert choose("train_percentile", threshold_percentile=99.0).value == pytest.approx(np.percentile(TRAIN, 99))


def test_val_best_f1_picks_the_f1_maximising_cut():
    t = choose("val_best_f1")
    pred = VAL > t.value
    # best F1 here: flag 20, 40, 50, 60 and 30 (a false positive) -> P 0.8, R 0.8; or flag >= 13 ...
    f1 = lambda p: 2 * (p & VAL_IS_ANOMALY).sum() / (p.sum() + VAL_IS_ANOMALY.sum())
    best = max(f1(VAL > c) for c in np.r_[VAL - 1e-9, VAL.max() + 1])
    assert f1(pred) == pytest.approx(best)
    assert t.details["val_f1"] == pytest.approx(best)


def test_val_best_balanced_accuracy_weighs_both_classes_alike():
    # flag >= 40, >= 20 and >= 13 all give balanced accuracy 0.8; ties go to the highest cut
    t = choose("val_best_balanced_accuracy")
    assert 30.0 < t.value < 40.0
    assert t.details == {"val_balanced_accuracy": 0.8, "val_recall": 0.6, "val_specificity": 1.0}
    assert choose("val_best_f1").value < 13.0  # F1 (anomaly class) wants all five anomalies flagged


def test_val_target_recall_keeps_the_recall_with_the_highest_specificity():
    t = choose("val_target_recall", target_recall=1.0)
    assert 12.0 < t.value < 13.0  # must flag 13, the lowest anomaly; 12 is the next lower loss
    assert t.details == {"val_recall": 1.0, "val_specificity": 0.6, "target_recall": 1.0}
    t = choose("val_target_recall", target_recall=0.8)
    assert 14.0 < t.value < 20.0  # 4 of 5 anomalies: only 30 stays a false positive
    assert t.details["val_specificity"] == pytest.approx(0.8)


def test_rules_on_validation_need_anomalies():
    with pytest.raises(EcgnbError, match="needs validation normals and anomalies"):
        threshold.choose(config.Config(threshold_rule="val_best_f1"), TRAIN, VAL, np.zeros(10, bool))


def test_threshold_json_round_trip(tmp_path):
    t = choose("val_best_f1")
    t.save(tmp_path / "threshold.json")
    assert threshold.Threshold.load(tmp_path / "threshold.json") == t
    with pytest.raises(EcgnbError, match="run 03_threshold first"):
        threshold.Threshold.load(tmp_path / "missing.json")


def test_evaluate_counts_and_scores():
    normal = np.array([1.0, 2.0, 3.0, 9.0])
    anomaly = np.array([8.0, 10.0, 11.0, 2.5, 12.0, 13.0])
    targets = np.array([2, 2, 3, 4, 5, 2])
    m = metrics.evaluate(normal, anomaly, targets, threshold=5.0)
    assert m["confusion"] == {"tn": 3, "fp": 1, "fn": 1, "tp": 5}
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["recall"] == pytest.approx(5 / 6) and m["specificity"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx((5 / 6 + 0.75) / 2)
    assert m["precision"] == pytest.approx(5 / 6) and m["f1"] == pytest.approx(5 / 6)
    assert m["roc_auc"] == pytest.approx(21 / 24)  # pairs (normal, anomaly) ranked right
    assert m["per_class"]["R on T"] == {"detected": 3, "total": 3, "rate": 1.0, "ci95": pytest.approx([0.4385, 1.0], abs=1e-4)}
    assert m["per_class"]["SP"]["detected"] == 0 and m["per_class"]["UB"]["rate"] == 1.0


def test_wilson_interval_known_value():
    low, high = metrics.wilson_interval(142, 145)
    assert (round(low, 3), round(high, 3)) == (0.941, 0.993)  # the figures quoted for the tutorial


def test_tutorial_protocol_counts():
    got = metrics.tutorial_protocol(np.array([10.0, 26.0, 27.0]), np.array([25.0, 30.0]), threshold=26.0)
    assert got == {"normal_correct": 2, "normal_total": 3, "anomaly_correct": 1, "anomaly_total": 2}
