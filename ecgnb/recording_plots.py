"""Figures of 06_recording: a strip with the found and flagged beats, the flagged beats over the typical
one, and the two kinds of evidence side by side. Built like :mod:`ecgnb.plots` (its style and ``save``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ecgnb.heartbeats import AFTER_S, BEFORE_S, FLAG_Z, Beats
from ecgnb.plots import HEIGHT, WIDTH

EVIDENCE_COLORS = {"shape": "tab:purple", "timing": "tab:orange", "both": "tab:red"}


def strip(beats: Beats, table: pd.DataFrame, start_s: float, seconds: float = 12.0) -> Figure:
    """``seconds`` of the recording from ``start_s``: every found beat marked, the flagged ones in the colour
    of their evidence, each with its reference label when the record has one."""
    rec = beats.recording
    a, b = int(start_s * rec.fs), min(len(rec.signal), int((start_s + seconds) * rec.fs))
    fig = Figure(figsize=(WIDTH, HEIGHT * 0.8))
    ax = fig.subplots()
    ax.plot(np.arange(a, b) / rec.fs, rec.signal[a:b], color="0.3", lw=0.8)
    shown = (table["time_s"] >= start_s) & (table["time_s"] < start_s + seconds)
    for i in np.flatnonzero(shown.to_numpy()):
        row, peak = table.iloc[i], beats.peaks[i]
        color = EVIDENCE_COLORS.get(row["flagged_by"], "tab:blue")
        ax.plot(row["time_s"], rec.signal[peak], "o", color=color, ms=7 if row["flagged"] else 4)
        if "label" in table:
            ax.annotate(row["label"], (row["time_s"], rec.signal[peak]), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=8, color=color)
    ax.set(xlabel="time (s)", ylabel=f"lead {rec.lead}",
           title="found beats (blue); flagged by shape (purple), timing (orange) or both (red)")
    return fig


def over_typical(beats: Beats, table: pd.DataFrame, most: int = 12) -> Figure:
    """The flagged beats (at most ``most``, highest score first) over the recording's typical beat (the
    median window), one panel per kind of evidence."""
    kinds = [k for k in EVIDENCE_COLORS if (table["flagged_by"] == k).any()] or ["shape"]
    fig = Figure(figsize=(WIDTH, HEIGHT))
    axes = np.atleast_1d(fig.subplots(1, len(kinds), sharey=True))
    t = np.linspace(-BEFORE_S, AFTER_S, beats.windows.shape[1])
    typical = np.median(beats.windows, axis=0)
    for ax, kind in zip(axes, kinds):
        chosen = table[table["flagged_by"] == kind].nlargest(most, "score").index
        for i in chosen:
            ax.plot(t, beats.windows[i], color=EVIDENCE_COLORS[kind], lw=0.8, alpha=0.6)
        ax.plot(t, typical, color="black", lw=2, label="typical beat")
        ax.set(title=f"flagged by {kind}: {int((table['flagged_by'] == kind).sum())}", xlabel="s from the R peak")
    axes[0].set_ylabel("standardized amplitude")
    axes[0].legend(loc="upper right", fontsize=8)
    return fig


def evidence(table: pd.DataFrame) -> Figure:
    """Each beat's timing against its shape (robust z), coloured by reference label (or flagged), with the
    flag line of each: a beat beyond either line is flagged."""
    fig = Figure(figsize=(WIDTH * 0.7, HEIGHT * 1.2))
    ax = fig.subplots()
    groups = table["label"].replace("", "?") if "label" in table else table["flagged"].map({True: "flagged",
                                                                                           False: "not flagged"})
    for name in sorted(groups.unique(), key=lambda g: -(groups == g).sum()):
        part, many = table[groups == name], (groups == name).sum() > 100
        ax.scatter(part["timing_score"], part["shape_score"], s=10 if many else 28, alpha=0.6 if many else 0.9,
                   label=f"{name} ({len(part)})")
    ax.axvline(FLAG_Z, color="black", ls="--", lw=1)
    ax.axhline(FLAG_Z, color="black", ls="--", lw=1)
    ax.set(xlabel="timing: robust z of prematurity + pause", ylabel="shape: robust z of the detector's score",
           title=f"flagged beyond either dashed line (z = {FLAG_Z:g})")
    ax.legend(fontsize=8, loc="upper left")
    return fig
