"""Held-out detection metrics (anomaly = positive class) and the tutorial's own protocol."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from ecgnb.data import ABNORMAL_NAMES


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible for small counts like UB's)."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    # at 0 or ``total`` successes an end is exactly 0 or 1; the formula's rounding would put it a hair outside
    low = 0.0 if successes == 0 else centre - half
    high = 1.0 if successes == total else centre + half
    return (float(low), float(high))


def per_class_detection(anomaly_scores: np.ndarray, anomaly_targets: np.ndarray, threshold: float,
                        names: Mapping[int, str] = ABNORMAL_NAMES) -> dict[str, dict]:
    """For each abnormal class (``names``: label → name): beats detected (score > threshold), total, rate
    and its 95% interval."""
    out = {}
    for label, name in names.items():
        scores = anomaly_scores[anomaly_targets == label]
        hits = int((scores > threshold).sum())
        low, high = wilson_interval(hits, len(scores))
        out[name] = {"detected": hits, "total": int(len(scores)),
                                       "rate": hits / len(scores) if len(scores) else float("nan"),
                                       "ci95": [low, high]}
    return out


def evaluate(normal_scores: np.ndarray, anomaly_scores: np.ndarray, anomaly_targets: np.ndarray,
             threshold: float, names: Mapping[int, str] = ABNORMAL_NAMES) -> dict:
    """Binary metrics at ``threshold`` plus threshold-free ROC-AUC and PR-AUC, and per abnormal class
    (``names``: label → name). A beat scoring above the threshold is flagged; the threshold metrics are
    their definitions over the four counts: precision, recall and F1 are 0 where they have nothing to
    count (scikit-learn's ``zero_division=0``), specificity and balanced accuracy NaN without normals."""
    normal_scores, anomaly_scores = np.asarray(normal_scores), np.asarray(anomaly_scores)
    fp = int((normal_scores > threshold).sum())
    tp = int((anomaly_scores > threshold).sum())
    tn, fn = len(normal_scores) - fp, len(anomaly_scores) - tp
    recall = tp / (tp + fn) if tp + fn else 0.0
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    y = np.r_[np.zeros(len(normal_scores), int), np.ones(len(anomaly_scores), int)]
    s = np.r_[normal_scores, anomaly_scores]
    return {
        "threshold": float(threshold),
        "n_normal": int(len(normal_scores)), "n_anomaly": int(len(anomaly_scores)),
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "accuracy": float((tp + tn) / len(y)),
        "balanced_accuracy": float((recall + specificity) / 2),
        "precision": float(tp / (tp + fp)) if tp + fp else 0.0,
        "recall": float(recall),
        "specificity": float(specificity),
        "f1": float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0,
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "per_class": per_class_detection(anomaly_scores, anomaly_targets, threshold, names),
    }


def tutorial_protocol(test_normal_scores: np.ndarray, first_anomaly_scores: np.ndarray, threshold: float) -> dict:
    """The tutorial's check: test normals at or below the threshold, first anomalies above it."""
    return {"normal_correct": int((test_normal_scores <= threshold).sum()), "normal_total": int(len(test_normal_scores)),
            "anomaly_correct": int((first_anomaly_scores > threshold).sum()),
            "anomaly_total": int(len(first_anomaly_scores))}
