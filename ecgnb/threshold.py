"""Turn anomaly scores into a decision: a heartbeat is abnormal when its score > threshold.

Five rules, picked by ``Config.threshold_rule``:
- ``fixed``: a value chosen in advance (the tutorial read 26 off a histogram);
- ``train_percentile``: a percentile of the training normals' scores (no anomalies needed);
- ``val_best_f1``: the best F1 on the validation set (normals + held-out validation anomalies);
- ``val_best_balanced_accuracy``: the best balanced accuracy (mean of recall and specificity,
  i.e. Youden's J) on the validation set; unlike F1 it does not depend on the share of
  anomalies, which is 57% in validation but 92% in the test set;
- ``val_target_recall``: the highest specificity that still catches ``target_recall`` of the
  validation anomalies (the clinically useful choice: missing an anomaly costs most).
Validation anomalies are never in the test set, so no rule sees a test label.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from ecgnb.config import Config
from ecgnb.errors import EcgnbError


@dataclass(frozen=True)
class Threshold:
    """The chosen threshold, the rule that chose it, and what the rule saw."""

    value: float
    rule: str
    details: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Threshold":
        path = Path(path)
        if not path.is_file():
            raise EcgnbError(f"{path}: threshold not found; run 03_threshold first")
        return cls(**json.loads(path.read_text()))


def _just_below(cut: float, scores: np.ndarray) -> float:
    """A threshold t with ``score > t`` ⇔ ``score >= cut``: halfway to the next lower score."""
    lower = scores[scores < cut]
    return float((cut + lower.max()) / 2) if lower.size else float(np.nextafter(cut, -np.inf))


def _check_val(scores: np.ndarray, is_anomaly: np.ndarray, rule: str) -> None:
    if is_anomaly.all() or not is_anomaly.any():
        raise EcgnbError(f"threshold_rule {rule} needs validation normals and anomalies; "
                         "set val_anomaly_fraction > 0 or pick another rule")


def val_best_f1(scores: np.ndarray, is_anomaly: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Threshold with the best anomaly-class F1 on the validation set."""
    _check_val(scores, is_anomaly, "val_best_f1")
    precision, recall, cuts = precision_recall_curve(is_anomaly, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.clip(precision[:-1] + recall[:-1], 1e-12, None)
    best = int(np.argmax(f1))
    return _just_below(cuts[best], scores), {"val_f1": float(f1[best]), "val_recall": float(recall[best]),
                                              "val_precision": float(precision[best])}


def val_best_balanced_accuracy(scores: np.ndarray, is_anomaly: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Threshold with the best balanced accuracy on the validation set; ties go to the higher one."""
    _check_val(scores, is_anomaly, "val_best_balanced_accuracy")
    fpr, tpr, cuts = roc_curve(is_anomaly, scores, drop_intermediate=False)
    # rounded so float noise cannot split a tie; cuts run high to low, so argmax keeps the highest
    best = int(np.argmax(np.round(tpr - fpr, 12)))
    return _just_below(cuts[best], scores), {"val_balanced_accuracy": float((tpr[best] + 1 - fpr[best]) / 2),
                                              "val_recall": float(tpr[best]), "val_specificity": float(1 - fpr[best])}


def val_target_recall(scores: np.ndarray, is_anomaly: np.ndarray, target: float) -> tuple[float, dict[str, Any]]:
    """Highest threshold (so highest specificity) whose validation anomaly recall >= ``target``."""
    _check_val(scores, is_anomaly, "val_target_recall")
    fpr, tpr, cuts = roc_curve(is_anomaly, scores, drop_intermediate=False)
    ok = np.flatnonzero(tpr >= target)[0]  # roc_curve orders cuts from high to low
    return _just_below(cuts[ok], scores), {"val_recall": float(tpr[ok]), "val_specificity": float(1 - fpr[ok])}


def choose(cfg: Config, train_scores: np.ndarray, val_scores: np.ndarray, val_is_anomaly: np.ndarray) -> Threshold:
    """Apply ``cfg.threshold_rule`` to the scores (train normals; validation normals + anomalies)."""
    val_is_anomaly = np.asarray(val_is_anomaly, dtype=bool)
    if cfg.threshold_rule == "fixed":
        value, details = cfg.threshold_value, {}
    elif cfg.threshold_rule == "train_percentile":
        value = float(np.percentile(train_scores, cfg.threshold_percentile))
        details = {"percentile": cfg.threshold_percentile}
    elif cfg.threshold_rule == "val_best_f1":
        value, details = val_best_f1(val_scores, val_is_anomaly)
    elif cfg.threshold_rule == "val_best_balanced_accuracy":
        value, details = val_best_balanced_accuracy(val_scores, val_is_anomaly)
    else:
        value, details = val_target_recall(val_scores, val_is_anomaly, cfg.target_recall)
        details["target_recall"] = cfg.target_recall
    return Threshold(value=float(value), rule=cfg.threshold_rule, details=details)
