"""The simplest detector worth beating: how far a heartbeat lies from its nearest training normals.

No training and no model: the anomaly score of a beat is its mean Euclidean distance to the
``K`` closest training normals. Its threshold comes from the run's own rule on the same
validation beats, so the autoencoder and this baseline are judged on equal terms. Where the
autoencoder does not beat it, the LSTM buys nothing; where both flag the same normals, the
limit is in those beats, not in either detector.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from ecgnb import metrics, threshold
from ecgnb.config import Config
from ecgnb.data import ABNORMAL_NAMES, Split

K = 5  # neighbours averaged; validation ROC-AUC over 3 seeds: k=1 0.9932, k=5 0.9969 (1 follows single odd beats)


def knn_distance(reference: np.ndarray, x: np.ndarray, k: int = K, exclude_self: bool = False) -> np.ndarray:
    """Mean Euclidean distance from each row of ``x`` to its ``k`` nearest rows of ``reference``.

    ``exclude_self``: ``x`` is ``reference`` itself; each row's zero distance to itself is skipped
    (leave-one-out), so training normals get the score an unseen normal would.
    """
    reference, x = reference.reshape(len(reference), -1), x.reshape(len(x), -1)  # several channels: one vector
    skip = int(exclude_self)
    if not 1 <= k <= len(reference) - skip:
        raise ValueError(f"k must be in 1..{len(reference) - skip} for {len(reference)} reference rows, got {k}")
    distances, _ = NearestNeighbors(n_neighbors=k + skip).fit(reference).kneighbors(x)
    return distances[:, skip:].mean(axis=1)


def rule_for(cfg: Config) -> Config:
    """``cfg`` with a threshold rule that means something on this score's scale.

    A fixed threshold is on the autoencoder's scale, so the baseline uses ``train_percentile``
    (``cfg.threshold_percentile``) instead; every other rule reads the baseline's own scores.
    """
    return cfg.replace(threshold_rule="train_percentile") if cfg.threshold_rule == "fixed" else cfg


def evaluate(cfg: Config, split: Split, k: int = K, names: Mapping[int, str] = ABNORMAL_NAMES,
             tutorial: bool = True) -> dict[str, Any]:
    """Score every beat by :func:`knn_distance`, threshold it like the run, measure it like 04_evaluate
    (``names``: label → name of the abnormal classes; ``tutorial``: the tutorial's check too, ECG5000's).

    Returns ``method``, ``threshold`` (value, rule), ``held_out`` and ``tutorial`` (the layouts of
    :func:`ecgnb.metrics.evaluate` and :func:`ecgnb.metrics.tutorial_protocol`) and
    ``test_normal_flagged`` (one bool per test normal, in the split's order).
    """
    train = knn_distance(split.train, split.train, k, exclude_self=True)
    val_normal, test_normal = np.split(knn_distance(split.train, np.r_[split.val, split.test], k), [len(split.val)])
    anomaly = knn_distance(split.train, split.anomalies, k)  # in split order: masks and slices apply
    val_anomaly = anomaly[split.val_anomaly_mask]
    is_anomaly = np.r_[np.zeros(len(val_normal), bool), np.ones(len(val_anomaly), bool)]
    chosen = threshold.choose(rule_for(cfg), train, np.r_[val_normal, val_anomaly], is_anomaly)
    check = {"tutorial": metrics.tutorial_protocol(test_normal, anomaly[:len(split.test)], chosen.value)}
    return {"method": f"{k}-NN distance", "threshold": {"value": chosen.value, "rule": chosen.rule},
            "held_out": metrics.evaluate(test_normal, anomaly[~split.val_anomaly_mask], split.test_anomaly_targets,
                                         chosen.value, names),
            **(check if tutorial else {}), "test_normal_flagged": (test_normal > chosen.value).tolist()}


NOT_PARTS = ("set", "target", "label", "l1_sum", "anomaly_score", "tutorial")  # losses.csv's other columns
SHOWN = ("roc_auc", "pr_auc", "balanced_accuracy", "recall", "specificity")


def side_by_side(cfg: Config, losses: pd.DataFrame, knn: Mapping[str, Any],
                 names: Mapping[int, str] = ABNORMAL_NAMES) -> pd.DataFrame:
    """The test metrics of each part of the detector's score (``losses.csv``'s ``shape``, ``distance``, ``score``
    ...), each thresholded by the run's rule on its own training and validation scores, beside ``knn``
    (:func:`evaluate`); one column each, the false alarms (test normals flagged) in the last row."""
    of = {part: _held_out(cfg, losses, part, names) for part in losses.columns if part not in NOT_PARTS}
    of[knn["method"]] = knn["held_out"]
    table = pd.DataFrame({name: [m[key] for key in SHOWN] for name, m in of.items()}, index=list(SHOWN))
    table.loc["false alarms"] = [m["confusion"]["fp"] for m in of.values()]
    return table


def _held_out(cfg: Config, losses: pd.DataFrame, column: str, names: Mapping[int, str]) -> dict[str, Any]:
    scores = {name: part[column].to_numpy() for name, part in losses.groupby("set")}
    empty = np.zeros(0)
    val_anomaly = scores.get("val_anomaly", empty)
    is_anomaly = np.r_[np.zeros(len(scores["val"]), bool), np.ones(len(val_anomaly), bool)]
    chosen = threshold.choose(rule_for(cfg), scores["train"], np.r_[scores["val"], val_anomaly], is_anomaly)
    targets = losses.loc[losses["set"] == "test_anomaly", "target"].to_numpy()
    return metrics.evaluate(scores["test"], scores["test_anomaly"], targets, chosen.value, names)
