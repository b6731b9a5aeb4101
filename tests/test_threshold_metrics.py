"""Threshold rules and metrics against their definitions.

Expected values come from first principles: confusion matrices and F1 tables counted by hand,
ROC-AUC as the share of (normal, anomaly) pairs ranked right, average precision as the mean
precision at each anomaly, Wilson's interval against Newcombe's published values. Property
tests (hypothesis) check the invariants on many drawn score sets.
"""

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecgnb import config, metrics, threshold
from ecgnb.errors import EcgnbError

TRAIN = np.arange(1.0, 101.0)  # 1..100
VAL = np.array([5.0, 10.0, 12.0, 14.0, 30.0, 20.0, 40.0, 50.0, 60.0, 13.0])
VAL_IS_ANOMALY = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], dtype=bool)  # normal 30 overlaps; anomaly 13 hides
# VAL ranked high to low (A anomaly, N normal): 60A 50A 40A 30N 20A 14N 13A 12N 10N 5N. Flagging the
# scores >= cut gives, cut by cut (TP FP; recall, specificity, F1 = 2TP / (2TP + FP + FN)):
#   60: 1 0; .2 1 .333   50: 2 0; .4 1 .571   40: 3 0; .6 1 .750   30: 3 1; .6 .8 .667   20: 4 1; .8 .8 .800
#   14: 4 2; .8 .6 .727  13: 5 2; 1 .6 .833   12: 5 3; 1 .4 .769   10: 5 4; 1 .2 .714    5: 5 5; 1 0 .667
VAL_RULES = ("val_best_f1", "val_best_balanced_accuracy", "val_target_recall")


def choose(rule: str, **kw) -> threshold.Threshold:
    cfg = config.Config(threshold_rule=rule, **kw)
    return threshold.choose(cfg, TRAIN, VAL, VAL_IS_ANOMALY)


def counts(scores: np.ndarray, is_anomaly: np.ndarray, t: float) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of the rule ``score > t``, counted one beat at a time."""
    tp = fp = fn = tn = 0
    for s, a in zip(scores.tolist(), is_anomaly.tolist()):
        flagged = s > t
        tp, fp, fn, tn = tp + (flagged and a), fp + (flagged and not a), fn + (not flagged and a), tn + (not flagged and not a)
    return tp, fp, fn, tn


# ---------------------------------------------------------------- each rule on the hand-counted set


def test_fixed_rule_is_the_value():
    assert choose("fixed", threshold_value=17.5) == threshold.Threshold(17.5, "fixed", {})


@pytest.mark.parametrize("percentile, expected", [(99.0, 99.01), (50.0, 50.5), (100.0, 100.0), (0.5, 1.495)])
def test_train_percentile_interpolates_between_training_scores(percentile, expected):
    # the p-th percentile of 1..100 sits at rank p/100 * 99 (0-based), linearly interpolated
    t = choose("train_percentile", threshold_percentile=percentile)
    assert t.value == pytest.approx(expected) and t.details == {"percentile": percentile}


def test_val_best_f1_picks_the_f1_maximising_cut_and_reports_what_it_achieves():
    t = choose("val_best_f1")  # cut 13 (F1 .833), halfway to the next lower score 12
    assert (t.value, t.rule) == (12.5, "val_best_f1")
    assert t.details == pytest.approx({"val_f1": 5 / 6, "val_recall": 1.0, "val_precision": 5 / 7})


def test_val_best_f1_when_the_best_cut_has_precision_plus_recall_below_one():
    # three normals outrank both anomalies; flagging down to anomaly 9 gives P 1/4, R 1/2, F1 1/3,
    # every lower cut adds normals (F1 2/7 at 8, ... 4/27 when all 25 beats are flagged)
    normals = np.r_[12.0, 11.0, 10.0, np.linspace(1.0, 8.0, 20)]
    scores, is_anomaly = np.r_[normals, 9.0, 0.5], np.r_[np.zeros(23, bool), True, True]
    value, details = threshold.val_best_f1(scores, is_anomaly)
    assert value == 8.5
    assert details == pytest.approx({"val_f1": 1 / 3, "val_recall": 0.5, "val_precision": 0.25})


def test_a_rule_that_flags_every_validation_beat_stays_just_below_the_lowest_score():
    scores, is_anomaly = np.array([2.0, 1.0]), np.array([False, True])  # F1: 0 at cut 2, 2/3 at cut 1
    value, details = threshold.val_best_f1(scores, is_anomaly)
    assert 0.999 < value < 1.0 and (scores > value).all()
    assert details == pytest.approx({"val_f1": 2 / 3, "val_recall": 1.0, "val_precision": 0.5})
    value, _ = threshold.val_target_recall(scores, is_anomaly, 1.0)
    assert 0.999 < value < 1.0 and (scores > value).all()


def test_val_best_balanced_accuracy_weighs_both_classes_alike_and_breaks_ties_upwards():
    # cuts 40, 20 and 13 all give balanced accuracy 0.8; the highest, 40, wins: halfway to 30
    t = choose("val_best_balanced_accuracy")
    assert (t.value, t.rule) == (35.0, "val_best_balanced_accuracy")
    assert t.details == {"val_balanced_accuracy": 0.8, "val_recall": 0.6, "val_specificity": 1.0}


@pytest.mark.parametrize("target, value, specificity", [(1.0, 12.5, 0.6), (0.8, 17.0, 0.8), (0.6, 35.0, 1.0),
                                                        (0.61, 17.0, 0.8), (0.2, 55.0, 1.0)])
def test_val_target_recall_keeps_the_recall_with_the_highest_specificity(target, value, specificity):
    t = choose("val_target_recall", target_recall=target)
    recall = {12.5: 1.0, 17.0: 0.8, 35.0: 0.6, 55.0: 0.2}[value]
    assert (t.value, t.rule) == (value, "val_target_recall")
    assert t.details == pytest.approx({"val_recall": recall, "val_specificity": specificity, "target_recall": target})


@pytest.mark.parametrize("rule", VAL_RULES)
@pytest.mark.parametrize("mask", [np.zeros(10, bool), np.ones(10, bool)], ids=["no anomalies", "no normals"])
def test_rules_on_validation_need_normals_and_anomalies(rule, mask):
    with pytest.raises(EcgnbError) as err:
        threshold.choose(config.Config(threshold_rule=rule), TRAIN, VAL, mask)
    assert str(err.value) == (f"threshold_rule {rule} needs validation normals and anomalies; "
                              "set val_anomaly_fraction > 0 or pick another rule")


@pytest.mark.parametrize("mask", [VAL_IS_ANOMALY.astype(float).tolist(), VAL_IS_ANOMALY * np.arange(2, 12)],
                         ids=["0.0/1.0 list", "class labels, 0 for normals"])
def test_choose_takes_any_truthy_mask_as_the_anomalies(mask):
    assert threshold.choose(config.Config(threshold_rule="val_best_balanced_accuracy"), TRAIN, VAL, mask) == \
        choose("val_best_balanced_accuracy")


def test_threshold_json_round_trip(tmp_path):
    t = threshold.Threshold(12.5, "val_best_f1", {"val_f1": 0.5})
    t.save(tmp_path / "threshold.json")
    assert (tmp_path / "threshold.json").read_text() == (
        '{\n  "value": 12.5,\n  "rule": "val_best_f1",\n  "details": {\n    "val_f1": 0.5\n  }\n}\n')
    assert threshold.Threshold.load(tmp_path / "threshold.json") == t
    assert threshold.Threshold.load(str(tmp_path / "threshold.json")) == t
    assert threshold.Threshold(1.0, "fixed").details == {}


def test_a_missing_threshold_file_says_which_step_writes_it(tmp_path):
    with pytest.raises(EcgnbError) as err:
        threshold.Threshold.load(tmp_path / "missing.json")
    assert str(err.value) == f"{tmp_path / 'missing.json'}: threshold not found; run 03_threshold first"


# ---------------------------------------------------------------- rule properties on drawn score sets

# small integer scores: ties between and within the classes are common
val_sets = st.lists(st.tuples(st.integers(0, 12), st.booleans()), min_size=2, max_size=25).filter(
    lambda beats: len({a for _, a in beats}) == 2).map(
    lambda beats: (np.array([s for s, _ in beats], float), np.array([a for _, a in beats])))


def candidates(scores: np.ndarray) -> list[float]:
    """Every distinct way to cut the scores: below all, between neighbours, above all."""
    distinct = np.unique(scores)
    return [distinct[0] - 1.0, *((distinct[:-1] + distinct[1:]) / 2), distinct[-1] + 1.0]


def achieved(scores: np.ndarray, is_anomaly: np.ndarray, t: float) -> dict[str, float]:
    tp, fp, fn, tn = counts(scores, is_anomaly, t)
    recall, specificity = tp / (tp + fn), tn / (tn + fp)
    return {"recall": recall, "specificity": specificity, "balanced_accuracy": (recall + specificity) / 2,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "f1": 2 * tp / (2 * tp + fp + fn), "flagged": tp + fp}


@given(val_sets)
def test_every_rule_cuts_between_validation_scores_and_reports_what_it_achieves(val):
    scores, is_anomaly = val
    for rule, (value, details) in {"f1": threshold.val_best_f1(scores, is_anomaly),
                                   "ba": threshold.val_best_balanced_accuracy(scores, is_anomaly),
                                   "recall": threshold.val_target_recall(scores, is_anomaly, 0.5)}.items():
        # the threshold sits between validation scores (or beyond them), never on one
        assert not (scores == value).any(), rule
        got = achieved(scores, is_anomaly, value)
        assert details["val_recall"] == pytest.approx(got["recall"]), rule
        if "val_specificity" in details:
            assert details["val_specificity"] == pytest.approx(got["specificity"]), rule
        # no higher threshold flags more validation anomalies (it cannot: counts only fall as t rises)
        for higher in (c for c in candidates(scores) if c > value):
            assert achieved(scores, is_anomaly, higher)["recall"] <= got["recall"], rule


@given(val_sets)
def test_val_best_f1_is_the_best_f1_of_any_threshold(val):
    scores, is_anomaly = val
    value, details = threshold.val_best_f1(scores, is_anomaly)
    best = max(achieved(scores, is_anomaly, c)["f1"] for c in candidates(scores))
    got = achieved(scores, is_anomaly, value)
    assert got["f1"] == pytest.approx(best) == pytest.approx(details["val_f1"])
    assert details["val_precision"] == pytest.approx(got["precision"])


@given(val_sets)
def test_val_best_balanced_accuracy_is_the_best_and_the_highest_such_threshold(val):
    scores, is_anomaly = val
    value, details = threshold.val_best_balanced_accuracy(scores, is_anomaly)
    by_cut = {c: achieved(scores, is_anomaly, c)["balanced_accuracy"] for c in candidates(scores)}
    best = max(by_cut.values())
    assert details["val_balanced_accuracy"] == pytest.approx(best)
    assert achieved(scores, is_anomaly, value)["balanced_accuracy"] == pytest.approx(best)
    assert all(ba < best - 1e-9 for c, ba in by_cut.items() if c > value)  # ties go to the higher threshold


@given(val_sets, st.floats(0.01, 1.0))
def test_val_target_recall_reaches_the_target_with_the_highest_threshold(val, target):
    scores, is_anomaly = val
    value, details = threshold.val_target_recall(scores, is_anomaly, target)
    assert achieved(scores, is_anomaly, value)["recall"] >= target
    assert all(achieved(scores, is_anomaly, c)["recall"] < target for c in candidates(scores) if c > value)
    lower_target, _ = threshold.val_target_recall(scores, is_anomaly, target / 2)
    assert lower_target >= value  # asking for less recall never lowers the threshold


# ---------------------------------------------------------------- metrics on hand-counted sets

NORMAL = np.array([1.0, 2.0, 3.0, 9.0])
ANOMALY = np.array([8.0, 10.0, 11.0, 2.5, 12.0, 13.0])
TARGETS = np.array([2, 2, 3, 4, 5, 2])  # R on T: 8, 10, 13; PVC: 11; SP: 2.5; UB: 12


def test_evaluate_counts_and_scores_by_hand():
    # at 5: normals 1 2 3 below, 9 above (fp); anomalies 8 10 11 12 13 above, 2.5 below (fn)
    m = metrics.evaluate(NORMAL, ANOMALY, TARGETS, threshold=5.0)
    ci_3_of_3 = metrics.wilson_interval(3, 3)
    assert m == {
        "threshold": 5.0, "n_normal": 4, "n_anomaly": 6,
        "confusion": {"tn": 3, "fp": 1, "fn": 1, "tp": 5},
        "accuracy": pytest.approx(0.8), "balanced_accuracy": pytest.approx((5 / 6 + 3 / 4) / 2),
        "precision": pytest.approx(5 / 6), "recall": pytest.approx(5 / 6), "specificity": 0.75,
        "f1": pytest.approx(5 / 6),
        # pairs ranked right: normal 1 and 2 below all six anomalies, 3 below five, 9 below four: 21 of 24
        "roc_auc": pytest.approx(21 / 24),
        # ranked 13A 12A 11A 10A 9N 8A 3N 2.5A 2N 1N: precision 1 1 1 1 5/6 6/8 at the six anomalies
        "pr_auc": pytest.approx((4 + 5 / 6 + 6 / 8) / 6),
        "per_class": {"R on T": {"detected": 3, "total": 3, "rate": 1.0, "ci95": list(ci_3_of_3)},
                      "PVC": {"detected": 1, "total": 1, "rate": 1.0, "ci95": list(metrics.wilson_interval(1, 1))},
                      "SP": {"detected": 0, "total": 1, "rate": 0.0, "ci95": list(metrics.wilson_interval(0, 1))},
                      "UB": {"detected": 1, "total": 1, "rate": 1.0, "ci95": list(metrics.wilson_interval(1, 1))}},
    }
    assert ci_3_of_3 == pytest.approx((0.4385, 1.0), abs=1e-4)
    assert all(type(m[k]) is float for k in ("threshold", "accuracy", "precision", "roc_auc", "pr_auc"))


def test_evaluate_at_a_threshold_that_flags_nothing_and_one_that_flags_everything():
    none = metrics.evaluate(NORMAL, ANOMALY, TARGETS, threshold=13.0)  # score > 13: no beat
    assert none["confusion"] == {"tn": 4, "fp": 0, "fn": 6, "tp": 0}
    assert (none["precision"], none["recall"], none["f1"], none["specificity"]) == (0.0, 0.0, 0.0, 1.0)
    assert (none["accuracy"], none["balanced_accuracy"]) == (pytest.approx(0.4), 0.5)
    every = metrics.evaluate(NORMAL, ANOMALY, TARGETS, threshold=0.0)
    assert every["confusion"] == {"tn": 0, "fp": 4, "fn": 0, "tp": 6}
    assert (every["specificity"], every["recall"], every["precision"]) == (0.0, 1.0, pytest.approx(0.6))
    assert every["f1"] == pytest.approx(0.75)  # 2 * 6 / (12 + 4)


def test_evaluate_warns_about_nothing_where_every_metric_is_defined():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would land in the notebooks' outputs
        none = metrics.evaluate(NORMAL, ANOMALY, TARGETS, threshold=13.0)  # nothing flagged: precision 0/0 := 0
    assert none["precision"] == 0.0


def test_a_set_without_normals_or_without_anomalies_still_counts_right():
    # what such a set cannot define is nan (ROC-AUC, specificity) or 0 by zero_division=0 (recall, F1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's notes that a class is missing, and no other warning
        warnings.filterwarnings("ignore", message="Only one class is present|y_pred contains classes not in y_true|"
                                                  "A single label was found|No positive class found")
        no_normals = metrics.evaluate(np.array([]), np.array([3.0, 4.0]), np.array([2, 3]), threshold=1.0)
        no_anomalies = metrics.evaluate(np.array([1.0, 3.0]), np.array([]), np.array([], int), threshold=2.0)
        none_flagged = metrics.evaluate(np.array([1.0, 3.0]), np.array([]), np.array([], int), threshold=5.0)
    assert no_normals["confusion"] == {"tn": 0, "fp": 0, "fn": 0, "tp": 2}
    assert math.isnan(no_normals["specificity"]) and math.isnan(no_normals["roc_auc"])
    assert (no_normals["recall"], no_normals["precision"], no_normals["f1"]) == (1.0, 1.0, 1.0)
    assert no_anomalies["confusion"] == {"tn": 1, "fp": 1, "fn": 0, "tp": 0}
    assert (no_anomalies["specificity"], no_anomalies["recall"], no_anomalies["f1"]) == (0.5, 0.0, 0.0)
    assert math.isnan(no_anomalies["roc_auc"])
    assert none_flagged["confusion"] == {"tn": 2, "fp": 0, "fn": 0, "tp": 0}
    assert (none_flagged["precision"], none_flagged["recall"], none_flagged["f1"]) == (0.0, 0.0, 0.0)  # all 0/0


def test_specificity_when_false_alarms_equal_true_negatives():
    m = metrics.evaluate(np.array([1.0, 9.0]), np.array([10.0]), np.array([2]), threshold=5.0)
    assert m["confusion"] == {"tn": 1, "fp": 1, "fn": 0, "tp": 1} and m["specificity"] == 0.5


def test_a_score_equal_to_the_threshold_is_not_flagged():
    m = metrics.evaluate(np.array([5.0, 1.0]), np.array([5.0, 6.0]), np.array([2, 3]), threshold=5.0)
    assert m["confusion"] == {"tn": 2, "fp": 0, "fn": 1, "tp": 1}
    assert m["per_class"]["R on T"]["detected"] == 0 and m["per_class"]["PVC"]["detected"] == 1


def test_ties_across_the_classes_count_half_in_roc_auc():
    m = metrics.evaluate(np.array([1.0, 2.0]), np.array([2.0, 3.0]), np.array([2, 2]), threshold=1.5)
    assert m["roc_auc"] == pytest.approx(3.5 / 4)  # pairs: (1,2) (1,3) (2,3) right, (2,2) a tie


def test_per_class_detection_counts_each_class_and_leaves_an_empty_class_undefined():
    got = metrics.per_class_detection(np.array([30.0, 10.0, 27.0, 26.0, 40.0]), np.array([2, 2, 3, 3, 3]), 26.0)
    assert list(got) == ["R on T", "PVC", "SP", "UB"]
    assert got["R on T"] == {"detected": 1, "total": 2, "rate": 0.5, "ci95": list(metrics.wilson_interval(1, 2))}
    assert got["PVC"] == {"detected": 2, "total": 3, "rate": 2 / 3, "ci95": list(metrics.wilson_interval(2, 3))}
    for empty in ("SP", "UB"):
        assert (got[empty]["detected"], got[empty]["total"]) == (0, 0)
        assert math.isnan(got[empty]["rate"]) and all(math.isnan(x) for x in got[empty]["ci95"])


def test_evaluate_reports_per_class_under_the_names_it_is_given():
    """Another set's abnormal labels and names (here ECG200's -1) reach the per-class table."""
    m = metrics.evaluate(np.array([1.0]), np.array([3.0, 0.5]), np.array([-1, -1]), threshold=2.0, names={-1: "-1"})
    assert m["per_class"] == {"-1": {"detected": 1, "total": 2, "rate": 0.5, "ci95": list(metrics.wilson_interval(1, 2))}}


def test_metrics_are_plain_json():
    m = metrics.evaluate(NORMAL, ANOMALY, TARGETS, threshold=np.float32(5.0))
    assert json.loads(json.dumps(m)) == m


def test_tutorial_protocol_counts():
    # normals at or below the threshold are right; anomalies must be strictly above it
    got = metrics.tutorial_protocol(np.array([10.0, 26.0, 27.0]), np.array([25.0, 26.0, 30.0]), threshold=26.0)
    assert got == {"normal_correct": 2, "normal_total": 3, "anomaly_correct": 1, "anomaly_total": 3}
    assert all(type(v) is int for v in got.values())


# ---------------------------------------------------------------- Wilson's interval


@pytest.mark.parametrize("successes, total, low, high, digits", [
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table II, method 3 (score, no continuity correction)
    (81, 263, 0.2553, 0.3662, 4), (15, 148, 0.0624, 0.1605, 4), (0, 20, 0.0, 0.1611, 4), (1, 29, 0.0061, 0.1718, 4),
    (29, 29, 0.8830, 1.0, 4),
    (142, 145, 0.941, 0.993, 3),  # the figures quoted for the tutorial's 142/145
])
def test_wilson_interval_matches_published_values(successes, total, low, high, digits):
    got = metrics.wilson_interval(successes, total)
    assert tuple(round(x, digits) for x in got) == (low, high)


def test_wilson_interval_of_nothing_is_undefined_and_z_sets_the_width():
    assert all(math.isnan(x) for x in metrics.wilson_interval(0, 0))
    narrow, wide = metrics.wilson_interval(5, 10, z=1.0), metrics.wilson_interval(5, 10, z=3.0)
    half = 1 / (2 * math.sqrt(11))  # z = 1, p = 1/2, n = 10: centre 1/2, half-width sqrt(11/400) / 1.1
    assert narrow == pytest.approx((0.5 - half, 0.5 + half))
    assert wide[0] < narrow[0] and wide[1] > narrow[1]


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_inverts_the_score_test(case):
    # the ends are the proportions p0 where |p - p0| = z sqrt(p0 (1 - p0) / n): Wilson's definition
    k, n = case
    low, high = metrics.wilson_interval(k, n)
    p, z = k / n, 1.96
    assert 0.0 <= low <= p <= high <= 1.0
    for end in (low, high):
        assert (p - end) ** 2 == pytest.approx(z * z * end * (1 - end) / n, abs=1e-12)
    assert (low == 0.0) == (k == 0) and (high == 1.0) == (k == n)
    mirrored = metrics.wilson_interval(n - k, n)
    assert (1 - mirrored[1], 1 - mirrored[0]) == pytest.approx((low, high), abs=1e-12)


# ---------------------------------------------------------------- metric properties on drawn score sets

score_sets = st.tuples(st.lists(st.integers(-20, 20), min_size=1, max_size=15),
                       st.lists(st.integers(-20, 20), min_size=1, max_size=15)).map(
    lambda pair: (np.array(pair[0], float), np.array(pair[1], float)))
increasing = st.sampled_from([lambda s: 3 * s + 7, np.exp, np.arctan, lambda s: s ** 3])
half_integers = st.integers(-21, 20).map(lambda k: k + 0.5)  # never equal to a score


def labels_for(anomaly: np.ndarray) -> np.ndarray:
    return np.array([2 + i % 4 for i in range(len(anomaly))])


@given(score_sets)
def test_roc_auc_is_the_share_of_pairs_ranked_right(sets):
    normal, anomaly = sets
    pairs = [(a > n) + 0.5 * (a == n) for n in normal for a in anomaly]
    m = metrics.evaluate(normal, anomaly, labels_for(anomaly), threshold=0.0)
    assert m["roc_auc"] == pytest.approx(sum(pairs) / len(pairs))


@given(score_sets)
def test_average_precision_is_the_mean_precision_at_each_anomaly(sets):
    normal, anomaly = sets
    # tied scores share one cut: at an anomaly scoring s, precision counts every beat scoring >= s
    precision = [(anomaly >= s).sum() / ((anomaly >= s).sum() + (normal >= s).sum()) for s in anomaly]
    m = metrics.evaluate(normal, anomaly, labels_for(anomaly), threshold=0.0)
    assert m["pr_auc"] == pytest.approx(np.mean(precision))


@given(score_sets, increasing, half_integers)
def test_ranking_metrics_ignore_any_increasing_transform(sets, f, t):
    normal, anomaly = sets
    before = metrics.evaluate(normal, anomaly, labels_for(anomaly), threshold=t)
    after = metrics.evaluate(f(normal), f(anomaly), labels_for(anomaly), threshold=float(f(np.float64(t))))
    assert after["roc_auc"] == pytest.approx(before["roc_auc"])
    assert after["pr_auc"] == pytest.approx(before["pr_auc"])
    assert after["confusion"] == before["confusion"]  # the same beats sit above the moved threshold


@given(score_sets, half_integers)
def test_metrics_are_symmetric_in_the_two_classes(sets, t):
    # anomalies scored -s as "normals" and normals as "anomalies", threshold -t: the same decisions mirrored
    normal, anomaly = sets
    m = metrics.evaluate(normal, anomaly, labels_for(anomaly), threshold=t)
    swapped = metrics.evaluate(-anomaly, -normal, labels_for(normal), threshold=-t)
    c, s = m["confusion"], swapped["confusion"]
    assert (s["tp"], s["tn"], s["fp"], s["fn"]) == (c["tn"], c["tp"], c["fn"], c["fp"])
    assert swapped["roc_auc"] == pytest.approx(m["roc_auc"])
    assert swapped["balanced_accuracy"] == pytest.approx(m["balanced_accuracy"])
    assert (swapped["recall"], swapped["specificity"]) == pytest.approx((m["specificity"], m["recall"]))
    assert swapped["accuracy"] == pytest.approx(m["accuracy"])
    flipped = metrics.evaluate(-normal, -anomaly, labels_for(anomaly), threshold=-t)
    assert flipped["roc_auc"] == pytest.approx(1 - m["roc_auc"])


@given(score_sets, st.floats(-20, 20))
def test_the_confusion_matrix_partitions_the_beats(sets, t):
    normal, anomaly = sets
    m = metrics.evaluate(normal, anomaly, labels_for(anomaly), threshold=t)
    c = m["confusion"]
    assert (c["tn"] + c["fp"], c["tp"] + c["fn"]) == (len(normal), len(anomaly))
    assert c["tp"] == sum(m["per_class"][name]["detected"] for name in m["per_class"])
    assert m["accuracy"] == pytest.approx((c["tp"] + c["tn"]) / (len(normal) + len(anomaly)))
    flagged = np.r_[normal, anomaly] > t  # precision: the share of anomalies among the flagged beats (0 for none)
    assert m["precision"] == pytest.approx(flagged[len(normal):].sum() / flagged.sum() if flagged.any() else 0.0)
    assert m["balanced_accuracy"] == pytest.approx((m["recall"] + m["specificity"]) / 2)
