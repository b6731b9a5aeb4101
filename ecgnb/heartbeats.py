"""Beats from a recording and the evidence that flags each: its shape (the detector) and its timing.

    beats = heartbeats.cut(rec)                          # R peaks (XQRS), one window per beat, RR intervals
    det, trained = heartbeats.fit_detector(beats, cfg)   # unsupervised: the recording's own beats, no labels
    shape = heartbeats.shape_scores(beats, det, trained)
    table = heartbeats.flag(beats, shape)                # time_s, score, flagged[, label], the evidence

A beat's **shape score** is :meth:`ecgnb.Detector.decision_function`; its **timing score** is how
early it comes (the RR interval before it against the median of the recent ones) plus half the
pause after it. Each is standardized on the recording's own beats with robust statistics (median
and MAD, so the few abnormal beats do not move them); a beat's score is the larger of the two,
and it is flagged above :data:`FLAG_Z`. No label enters any of it; the reference labels only
join the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ecgnb.config import Config
from ecgnb.recording import Recording, RecordingError, read

if TYPE_CHECKING:  # torch: only where a detector is trained or applied
    from ecgnb.detector import Detector

BEFORE_S, AFTER_S = 0.25, 0.45  # the window around the R peak: the P wave before, the T wave after (docs/recording.md)
LENGTH = 140  # samples per beat window, the model's length (ECG5000's)
RECENT = 8  # RR intervals whose median is a beat's local rhythm
PAUSE_WEIGHT = 0.5  # the pause after a beat counts half as much as its prematurity
FLAG_Z = 6.0  # flag a beat whose shape or timing lies this many robust standard deviations above the recording's
MATCH_S = 0.15  # a found beat and a reference beat match within this (ANSI/AAMI EC57)
MIN_BEATS = 10
TRAIN_BEATS = 512  # the detector trains on a seeded sample of at most this many of the recording's beats
MAD_TO_SD = 1.4826  # the MAD of a normal distribution times this is its standard deviation
COLUMNS = ("time_s", "score", "flagged", "label", "shape_score", "timing_score", "flagged_by", "rr_prev_s",
           "rr_next_s", "rr_local_s")


@dataclass(frozen=True)
class Beats:
    """The beats of one recording: where each lies, its window, the rhythm around it, its reference label."""

    recording: Recording
    peaks: np.ndarray  # sample index of each R peak
    windows: np.ndarray  # (n, LENGTH) float32, each standardized (mean 0, SD 1)
    rr_prev: np.ndarray  # s; NaN for the first beat
    rr_next: np.ndarray  # s; NaN for the last
    rr_local: np.ndarray  # s; median of the RECENT RR intervals before the beat
    labels: np.ndarray | None  # the matching reference symbol ('' where none matches), None without annotations

    @property
    def time_s(self) -> np.ndarray:
        return self.peaks / self.recording.fs


def find_peaks(rec: Recording) -> np.ndarray:
    """R peaks: wfdb's XQRS, each moved to the largest deflection within 50 ms (so windows line up)."""
    from wfdb import processing

    xqrs = processing.XQRS(sig=rec.signal, fs=rec.fs)
    xqrs.detect(verbose=False)
    peaks = np.asarray(xqrs.qrs_inds, dtype=np.int64)
    if len(peaks) == 0:
        return peaks
    moved = processing.correct_peaks(rec.signal, peaks, search_radius=round(0.05 * rec.fs),
                                     smooth_window_size=round(0.15 * rec.fs), peak_dir="compare")
    return np.unique(np.asarray(moved, dtype=np.int64))


def cut(rec: Recording, length: int = LENGTH, peaks: np.ndarray | None = None) -> Beats:
    """Every beat whose window fits inside the recording, resampled to ``length`` samples; ``peaks``: the
    R peaks when already found (:func:`find_peaks`)."""
    peaks = find_peaks(rec) if peaks is None else peaks
    before, after = round(BEFORE_S * rec.fs), round(AFTER_S * rec.fs)
    fits = peaks[(peaks - before >= 0) & (peaks + after < len(rec.signal))]
    if len(fits) < MIN_BEATS:
        raise RecordingError(f"{rec.path} (lead {rec.lead}): found {len(fits)} beats, too few to learn from; "
                             f"pass a longer recording or another lead (at least {MIN_BEATS} beats)")
    rr = np.diff(peaks) / rec.fs
    at = np.searchsorted(peaks, fits)  # RR intervals from every peak, also those whose window does not fit
    rr_prev = np.r_[np.nan, rr][at]
    rr_next = np.r_[rr, np.nan][at]
    rr_local = np.array([np.median(rr[max(0, i - RECENT):i]) if i > 0 else np.nan for i in at])
    return Beats(rec, fits, windows(rec, fits, length), rr_prev, rr_next, rr_local, match_labels(rec, fits))


def windows(rec: Recording, peaks: np.ndarray, length: int = LENGTH) -> np.ndarray:
    """(n, length): BEFORE_S to AFTER_S around each peak, linearly interpolated, each standardized as
    ECG5000's beats are (mean 0, SD 1), so a run trained on beat files applies too."""
    offsets = np.linspace(-BEFORE_S, AFTER_S, length) * rec.fs
    positions = peaks[:, None] + offsets[None, :]
    cut_out = np.interp(positions.ravel(), np.arange(len(rec.signal)), rec.signal).reshape(positions.shape)
    centred = cut_out - cut_out.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    return (centred / np.where(spread > 0, spread, 1.0)).astype(np.float32)


def match_labels(rec: Recording, peaks: np.ndarray) -> np.ndarray | None:
    """Each found beat's reference symbol: the nearest reference beat within MATCH_S, else ''."""
    if rec.ref_samples is None:
        return None
    labels = np.full(len(peaks), "", dtype=object)
    if len(rec.ref_samples) == 0:
        return labels
    right = np.clip(np.searchsorted(rec.ref_samples, peaks), 1, max(1, len(rec.ref_samples) - 1))
    left = right - 1
    nearest = np.where(np.abs(rec.ref_samples[left] - peaks) <= np.abs(rec.ref_samples[right] - peaks), left, right)
    close = np.abs(rec.ref_samples[nearest] - peaks) <= MATCH_S * rec.fs
    labels[close] = rec.ref_symbols[nearest[close]]
    return labels


def compare_with_reference(rec: Recording, peaks: np.ndarray) -> dict[str, float]:
    """Beat finding against the reference (``wfdb.processing.compare_annotations``, MATCH_S window)."""
    from wfdb import processing

    if rec.ref_samples is None:
        raise RecordingError(f"{rec.path}: no reference annotations to compare with")
    c = processing.compare_annotations(rec.ref_samples, peaks, round(MATCH_S * rec.fs))
    return {"reference": len(rec.ref_samples), "found": len(peaks), "matched": int(c.tp), "missed": int(c.fn),
            "extra": int(c.fp), "sensitivity": float(c.sensitivity), "positive_predictivity":
                float(c.positive_predictivity)}


def timing_score(beats: Beats) -> np.ndarray:
    """How early each beat comes (1 − RR before / recent median) plus PAUSE_WEIGHT × the pause after it
    (RR after / recent median − 1, when longer); 0 where the rhythm around a beat is not known."""
    prematurity = 1.0 - beats.rr_prev / beats.rr_local
    pause = np.clip(beats.rr_next / beats.rr_local - 1.0, 0.0, None)
    return np.nan_to_num(prematurity + PAUSE_WEIGHT * np.nan_to_num(pause), nan=0.0)


def robust_z(values: np.ndarray) -> np.ndarray:
    """(value − median) / (1.4826 × MAD): a z-score that a few outliers do not move."""
    median = np.median(values)
    spread = MAD_TO_SD * np.median(np.abs(values - median))
    return (values - median) / (spread if spread > 0 else 1.0)


def training_sample(beats: Beats, seed: int) -> np.ndarray:
    """Indices of the beats the detector trains on: those whose timing is not flagged (no label used), or a
    seeded sample of TRAIN_BEATS of them, in time order."""
    regular = np.flatnonzero(robust_z(timing_score(beats)) <= FLAG_Z)
    if len(regular) <= TRAIN_BEATS:
        return regular
    return np.sort(np.random.default_rng(seed).choice(regular, TRAIN_BEATS, replace=False))


def fit_detector(beats: Beats, cfg: Config) -> tuple["Detector", np.ndarray]:
    """A detector trained on the recording's own beats, no label used, and the indices it trained on.
    The few abnormal beats that come on time stay among them; an autoencoder that learns what most
    beats look like barely learns them."""
    from ecgnb.detector import Detector

    trained = training_sample(beats, cfg.seed)
    return Detector(cfg).fit(beats.windows[trained]), trained


def shape_scores(beats: Beats, detector: "Detector", trained: np.ndarray | None = None) -> np.ndarray:
    """The detector's score of every beat; the ``trained`` ones leave-one-out (as unseen beats would be)."""
    scores = np.array(detector.decision_function(beats.windows), dtype=np.float64)
    if trained is not None and len(trained):
        scores[trained] = detector.score_parts(beats.windows[trained], leave_one_out=True)["score"].to_numpy()
    return scores


def flag(beats: Beats, shape: np.ndarray) -> pd.DataFrame:
    """One row per beat: time_s, score (the larger robust z), flagged, label (with annotations), the two
    robust z's, which flagged it (shape, timing, both or ''), and the RR intervals. ``shape``: the
    detector's scores (:func:`shape_scores`), compared on a log scale (they are positive and skewed)."""
    shape = robust_z(np.log(np.maximum(shape, np.finfo(float).tiny)))
    timing = robust_z(timing_score(beats))
    combined = np.maximum(shape, timing)
    flagged = combined > FLAG_Z
    by = np.where(shape > FLAG_Z, "shape", "")
    by = np.where(timing > FLAG_Z, np.where(by == "shape", "both", "timing"), by)
    table = pd.DataFrame({"time_s": beats.time_s.round(3), "score": combined, "flagged": flagged,
                          "label": beats.labels, "shape_score": shape, "timing_score": timing, "flagged_by": by,
                          "rr_prev_s": beats.rr_prev, "rr_next_s": beats.rr_next, "rr_local_s": beats.rr_local})
    return table[[c for c in COLUMNS if beats.labels is not None or c != "label"]]


def score_recording(run_dir: Path, path: str | Path, lead: str | None = None, fs: float | None = None,
                    ) -> pd.DataFrame:
    """The table of :func:`flag` for the recording at ``path`` with the detector of the run in ``run_dir``
    (trained on this recording or elsewhere: every beat is scored as unseen)."""
    from ecgnb.detector import Detector

    detector = Detector.load(run_dir)
    rec = read(path, lead, fs)
    if detector.model_.n_features != 1:
        raise RecordingError(f"{run_dir}: its detector scores beats of {detector.model_.n_features} channels; "
                             "a recording gives one lead: score with a one-channel run")
    beats = cut(rec, detector.model_.seq_len)
    return flag(beats, shape_scores(beats, detector))


def per_label(table: pd.DataFrame) -> pd.DataFrame:
    """Beats per reference label (rows) and the evidence that flagged them (columns), with totals."""
    return pd.crosstab(table["label"].replace("", "(no reference beat)"),
                       table["flagged_by"].replace("", "not flagged"), margins=True, margins_name="total")


def roc_auc_by_evidence(table: pd.DataFrame) -> dict[str, float]:
    """ROC-AUC of the combined score, the shape and the timing: the labels other than N against N."""
    from sklearn.metrics import roc_auc_score

    labelled = table[table["label"] != ""]
    abnormal = labelled["label"] != "N"
    return {name: float(roc_auc_score(abnormal, labelled[column]))
            for name, column in (("combined", "score"), ("shape", "shape_score"), ("timing", "timing_score"))}
