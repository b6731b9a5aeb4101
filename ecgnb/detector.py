"""The detector: an LSTM autoencoder ensemble and two distances to the training beats, one score.

Conventions of scikit-learn and PyOD::

    det = Detector(**params)          # the keys of a params file; the defaults when none
    det.fit(normal_beats)             # (n, T) or (n, T, F): normal beats only
    det.decision_function(beats)      # higher = more abnormal
    det.predict(beats)                # 1 = abnormal (score above ``threshold_``)
    det.save("detector.pt"); Detector.load("detector.pt" or a run folder)

The score adds three kinds of evidence, in the autoencoder's units:

- **shape**: how badly the autoencoder rebuilds the beat (``ecgnb.score``: the L1 sum of the
  low-passed residual, the members' mean);
- **distance**: the Euclidean distance to the ``distance_k`` nearest training beats;
- **spectrum**: the same between amplitude spectra, blind to where in the beat a wave sits.

For the training beats themselves the distances leave the beat out (the distance an unseen normal
beat would get). Each component is divided by its typical value on the training beats (the median)
and multiplied by the shape's, so none drowns the others whatever the data's scale, and
score = shape + ``distance_weight`` × distance + ``spectrum_weight`` × spectrum; both weights 0
is the autoencoder alone. The detector sizes itself to the data
(:func:`sized`): the LSTMs walk at most ``model.MAX_STEPS`` (70) steps, a batch is never larger than
the training set, and each member takes at least ``min_steps`` optimizer steps, so a class of ten
beats trains as long as ECG5000's thousands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ecgnb import baseline, config, score, train
from ecgnb.config import Config
from ecgnb.errors import EcgnbError
from ecgnb.model import Ensemble, as_sequences, downsample_for


COLUMNS = ("shape", "distance", "spectrum", "score")  # what :meth:`Detector.score_parts` returns, in order


class NotFittedError(EcgnbError):
    """The detector is used before :meth:`Detector.fit`."""


def sized(cfg: Config, n: int, seq_len: int) -> Config:
    """``cfg`` with the sizes this data needs: ``downsample`` (null: ⌈T / 70⌉), a batch of at most ``n`` beats,
    and enough epochs for ``min_steps`` optimizer steps per member (never fewer than ``epochs``)."""
    downsample = cfg.downsample or downsample_for(seq_len)
    batch = min(cfg.batch_size, n)
    steps_per_epoch = -(-n // batch)
    epochs = min(config.MAX_EPOCHS, max(cfg.epochs, -(-cfg.min_steps // steps_per_epoch)))
    return cfg.replace(downsample=downsample, batch_size=batch, epochs=epochs)


class Detector:
    """An autoencoder ensemble with a k-NN distance: ``fit`` on normal beats, then score any beats."""

    def __init__(self, cfg: Config | None = None, **parameters: Any) -> None:
        self.cfg = (cfg.replace(**parameters) if parameters else cfg) if cfg is not None else \
            config.from_mapping(parameters)
        self.config_: Config | None = None  # the sizes the data decided (``sized``)
        self.model_: Ensemble | None = None
        self.history_: pd.DataFrame | None = None
        self.reference_: np.ndarray | None = None  # the training beats, (n, T × F): the distance's neighbours
        self.scales_: dict[str, float] = {}
        self.threshold_: float | None = None

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.cfg.to_dict().items() if v != getattr(Config(), k)}
        return f"Detector({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ------------------------------------------------------------ fitting

    def fit(self, X: np.ndarray, y: Any = None, *, val: np.ndarray | None = None,
            val_anomalies: np.ndarray | None = None, progress: bool = False) -> "Detector":
        """Train the autoencoders on the normal beats ``X``, then :meth:`calibrate` on them.

        ``val`` (normal beats) and ``val_anomalies`` only fill the training history (validation L1
        and ROC-AUC per epoch); without ``val`` the history reads up to 256 training beats.
        """
        X = _beats(X)
        cfg = sized(self.cfg, len(X), X.shape[1])
        model = train.build_model(cfg, X.shape[1], X.shape[2])
        history = train.fit(model, X, X[:256] if val is None else val, cfg, val_anomalies=val_anomalies,
                            progress=progress)
        return self.calibrate(model, history, X, cfg)

    def calibrate(self, model: Ensemble, history: pd.DataFrame, X: np.ndarray, cfg: Config | None = None,
                  ) -> "Detector":
        """Take a trained ``model`` and its training beats ``X``: the distance's neighbours, both
        components' typical values and the threshold (``threshold_percentile`` of the training scores)."""
        X = _beats(X)
        self.config_ = cfg or sized(self.cfg, len(X), X.shape[1])
        self.model_, self.history_ = model, history
        self.reference_ = X.reshape(len(X), -1).astype(np.float32)
        self.scales_ = {"shape": 1.0, "distance": 1.0, "spectrum": 1.0}
        scores = score.score(model, X, self.config_.score_sigma)
        raw = self._raw_parts(X, scores, leave_one_out=True)
        if len(X) < 2:  # nothing to leave one out: the autoencoder's own residual sets the distances' scale
            residual = X - scores.reconstruction.reshape(X.shape)
            raw["distance"] = np.linalg.norm(residual.reshape(len(X), -1), axis=1)
            raw["spectrum"] = np.linalg.norm(_spectrum(residual), axis=1)
        self.scales_ = {name: _typical(values) for name, values in raw.items()}
        self.threshold_ = float(np.percentile(self._combined(raw)["score"], self.config_.threshold_percentile))
        return self

    # ------------------------------------------------------------ scoring

    def score_parts(self, X: np.ndarray, leave_one_out: bool = False, l1_sum: bool = False) -> pd.DataFrame:
        """One row per beat: ``shape`` (the autoencoder's score), ``distance`` and ``spectrum`` (the k-NN
        distances, in the shape's units) and ``score`` = shape + distance_weight × distance +
        spectrum_weight × spectrum. ``leave_one_out``: ``X`` are the training beats, each scored without
        itself among its neighbours (as an unseen normal beat would be). ``l1_sum``: first a column with
        the tutorial's score, the plain L1 sum of the reconstruction error, from the same pass."""
        X = self._checked(X)
        scores = score.score(self.model_, X, self.config_.score_sigma)
        parts = self._combined(self._raw_parts(X, scores, leave_one_out))
        if l1_sum:
            parts.insert(0, "l1_sum", scores.l1_sum.astype(np.float64))
        return parts

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The anomaly score of each beat (higher = more abnormal)."""
        return self.score_parts(X)["score"].to_numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 for each beat scored above ``threshold_``, else 0."""
        return (self.decision_function(X) > self.threshold_).astype(int)

    def reconstruct(self, X: np.ndarray) -> np.ndarray:
        """The members' mean reconstruction, shaped like ``X``'s beats."""
        X = self._checked(X)
        return score.score(self.model_, X, 0.0).reconstruction

    def embed(self, X: np.ndarray) -> np.ndarray:
        """The code each beat is squeezed into (the members' side by side)."""
        return score.embed(self.model_, self._checked(X))

    def _raw_parts(self, X: np.ndarray, scores: score.Scores, leave_one_out: bool = False) -> dict[str, np.ndarray]:
        """Each component in its own units: the autoencoder's score (of ``scores``, the model's pass over ``X``),
        the distances in time and in spectrum."""
        flat = X.reshape(len(X), -1)
        return {"shape": scores.anomaly_score.astype(np.float64),
                "distance": self._nearest(self.reference_, flat, leave_one_out),
                "spectrum": self._nearest(_spectrum(self._reference_beats()), _spectrum(X), leave_one_out)}

    def _combined(self, raw: dict[str, np.ndarray]) -> pd.DataFrame:
        """The components in the shape's units (each divided by its typical training value, times the
        shape's), and their weighted sum."""
        cfg, unit = self.config_, self.scales_["shape"]
        parts = pd.DataFrame({name: values * unit / self.scales_[name] for name, values in raw.items()})
        parts["score"] = parts["shape"] + cfg.distance_weight * parts["distance"] + cfg.spectrum_weight * parts["spectrum"]
        return parts

    def _nearest(self, reference: np.ndarray, x: np.ndarray, leave_one_out: bool) -> np.ndarray:
        """Mean Euclidean distance from each row of ``x`` to its ``distance_k`` nearest rows of ``reference``."""
        k = min(self.config_.distance_k, len(reference) - int(leave_one_out))
        return baseline.knn_distance(reference, x, k, exclude_self=leave_one_out) if k >= 1 else np.zeros(len(x))

    def _reference_beats(self) -> np.ndarray:
        return self.reference_.reshape(len(self.reference_), self.model_.seq_len, self.model_.n_features)

    def _checked(self, X: np.ndarray) -> np.ndarray:
        if self.model_ is None:
            raise NotFittedError("the detector is not fitted; call fit(normal_beats) or Detector.load(path) first")
        return as_sequences(X, self.model_.members[0]).cpu().numpy()

    # ------------------------------------------------------------ files

    def save(self, path: str | Path, fingerprint: str = "", extra: dict[str, Any] | None = None) -> None:
        """One file (written whole): the weights, the sized parameters, the history, the neighbours, the
        scales and the threshold; ``fingerprint`` names the data it was trained on."""
        if self.model_ is None:
            raise NotFittedError("the detector is not fitted; nothing to save")
        state = {"reference": torch.from_numpy(self.reference_), "scales": dict(self.scales_),
                 "threshold": self.threshold_, "parameters": self.cfg.to_dict()}
        train.save_checkpoint(path, self.model_, self.config_, self.history_, fingerprint,
                              extra={"detector": state, **(extra or {})})

    @classmethod
    def load(cls, path: str | Path, fingerprint: str | None = None) -> "Detector":
        """A saved detector: a file from :meth:`save`, or a run folder (its ``model.pt``, with the
        threshold 03_threshold chose when the run has one)."""
        from ecgnb import runs  # the run-folder layout; not needed for a plain file

        path = Path(path)
        run_dir = path if path.is_dir() else None
        model, ckpt = train.load_checkpoint(Path(path) / runs.CHECKPOINT if run_dir else path,
                                            fingerprint=fingerprint)
        state = ckpt.get("detector")
        if state is None:
            raise EcgnbError(f"{path}: holds an autoencoder but no detector (written by an older ecgnb); "
                             "train it again")
        det = cls(config.from_mapping(state["parameters"]))
        det.config_ = config.from_mapping(ckpt["config"])
        det.model_, det.history_ = model, train.history_frame(ckpt)
        det.reference_ = state["reference"].numpy()
        det.scales_, det.threshold_ = dict(state["scales"]), state["threshold"]
        if run_dir is not None and (Path(run_dir) / runs.THRESHOLD).is_file():
            from ecgnb.threshold import Threshold

            det.threshold_ = Threshold.load(Path(run_dir) / runs.THRESHOLD).value
        return det


def _beats(X: np.ndarray) -> np.ndarray:
    """(n, T) or (n, T, F) → float32 (n, T, F); anything else is an error naming the shape."""
    X = np.asarray(X, dtype=np.float32)
    X = X[..., None] if X.ndim == 2 else X
    if X.ndim != 3 or len(X) == 0:
        raise EcgnbError(f"beats must be an array (n, T) or (n, T, F) with n >= 1, got shape {X.shape}")
    return X


def _spectrum(X: np.ndarray) -> np.ndarray:
    """(n, T, F) → each channel's amplitude spectrum, side by side (n, (T // 2 + 1) × F): where in the beat a
    wave sits drops out, what waves it holds stays."""
    return np.abs(np.fft.rfft(X, axis=1)).reshape(len(X), -1)


def _typical(values: np.ndarray) -> float:
    """The median of ``values``, or 1 where that is 0 or not finite (a component that never varies)."""
    m = float(np.median(values)) if len(values) else 0.0
    return m if np.isfinite(m) and m > 0 else 1.0
