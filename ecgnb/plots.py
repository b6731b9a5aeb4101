"""Figures for the notebooks: each function takes arrays or tables and returns a Figure.

Figures are built with :class:`matplotlib.figure.Figure` directly, not through pyplot, so
they work headless (Agg) and never pop up or pile up in pyplot's registry. A notebook cell
ends with ``plots.save(fig, run_dir, name)``: the figure is drawn once, into the run folder,
and the cell shows that PNG. Call :func:`setup` once (the imports cell of each notebook) for
the seaborn style, PNG-only inline output and a modest dpi; importing this module changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ecgnb import runs
from ecgnb.data import CLASS_NAMES, LABEL_NAMES

DPI = 100  # 8 x 3.5 in at 100 dpi: 800 x 350 px, PNGs of tens of KB
WIDTH = 8.0  # inches
HEIGHT = 3.5  # inches, for a one-row figure
TUTORIAL_BEST_VAL = 9.72  # best validation L1 of the tutorial's 150-epoch run (epoch 131)
NORMAL_COLOR, THRESHOLD_COLOR = "tab:blue", "black"
SET_COLORS = ("tab:blue", "tab:green", "tab:red", "tab:orange", "tab:purple")  # loss_distributions, in order


def setup() -> None:
    """Seaborn style, PNG-only inline figures, dpi 100. Safe outside IPython."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)
    mpl.rcParams.update({"figure.dpi": DPI, "savefig.dpi": DPI, "savefig.bbox": "tight",
                         "figure.figsize": (WIDTH, HEIGHT)})
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("png")


@dataclass(frozen=True)
class Saved:
    """A figure written to the run folder. A notebook shows it as that PNG file, so the figure is drawn
    once, not a second time for the page (a grid of a dozen beats costs about 0.9 s a drawing)."""

    path: Path
    description: str  # the figure's own repr, e.g. <Figure size 800x350 with 2 Axes>

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()

    def __repr__(self) -> str:
        return self.description


def save(fig: Figure, run_dir: str | Path, name: str) -> Saved:
    """Write ``fig`` to ``run_dir/figures/<name>.png``; the result shows as that PNG in a notebook."""
    target = Path(run_dir) / runs.FIGURES / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=DPI, bbox_inches="tight")
    return Saved(target, repr(fig))


# ---------------------------------------------------------------- shared helpers


def class_colors(names: Sequence[str] = CLASS_NAMES) -> dict[str, str]:
    """One colour per class, the same in every figure (the first class, ECG5000's Normal, is blue)."""
    return dict(zip(names, sns.color_palette("tab10", len(names)).as_hex()))


def _figure(nrows: int = 1, ncols: int = 1, height: float = HEIGHT, **kwargs) -> tuple[Figure, np.ndarray]:
    """A pyplot-free figure of width WIDTH with a flat array of axes."""
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes.ravel()


def _vline(ax: Axes, x: float, label: str) -> None:
    ax.axvline(x, color=THRESHOLD_COLOR, linestyle="--", linewidth=1.2, label=label)


def _beat(ax: Axes, original: np.ndarray, reconstruction: np.ndarray | None = None, title: str = "",
          color: str = NORMAL_COLOR) -> None:
    """One heartbeat (and its reconstruction) on a small, tick-free panel."""
    for lines in (ax.plot(original, color=color, linewidth=1.2, label="original"),
                  ax.plot(reconstruction, color="black", linewidth=1.0, linestyle="--", label="reconstruction")
                  if reconstruction is not None else []):
        for line in lines[1:]:  # several channels: one legend entry, not one per channel
            line.set_label("_nolegend_")
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


# ---------------------------------------------------------------- 01_explore


def class_counts(counts: Mapping[str, int], names: Sequence[str] = CLASS_NAMES) -> Figure:
    """Bar chart of how many heartbeats each class has, with the count on each bar."""
    counts = pd.Series(counts)
    fig, (ax,) = _figure()
    colors = class_colors(names)
    bars = ax.bar(counts.index.astype(str), counts.to_numpy(),
                  color=[colors.get(str(c), "grey") for c in counts.index])
    ax.bar_label(bars, fontsize=8)
    ax.set_yscale("log")  # the rarest class (ECG5000's UB: 24 beats) stays visible beside thousands
    ax.set(xlabel="class", ylabel="heartbeats (log scale)", title="Heartbeats per class")
    return fig


# Where the waves lie on ECG5000's mean normal beat (samples, read from the curve): each beat starts just
# after the R peak, so the QRS complex's deep S wave comes first, and it ends as the next beat's QRS begins.
WAVES = {"QRS": (0, 12), "T": (90, 114), "P": (124, 137)}


def ecg_waves(beat: np.ndarray, waves: Mapping[str, tuple[int, int]] = WAVES) -> Figure:
    """One beat with the span of each wave shaded and named (the P wave, QRS complex and T wave)."""
    fig, (ax,) = _figure(height=HEIGHT * 0.9)
    ax.plot(beat, color=NORMAL_COLOR, linewidth=1.5)
    top = float(np.max(beat))
    for name, (start, end) in waves.items():
        ax.axvspan(start, end, color="grey", alpha=0.15)
        ax.text((start + end) / 2, top * 1.05, name, ha="center", fontsize=9)
    ax.set(xlabel="sample (time)", ylabel="amplitude (z-score, no unit)", title="The mean normal beat",
           ylim=(None, top * 1.25))
    return fig


def class_means(values: np.ndarray, targets: np.ndarray, names: Mapping[int, str] = LABEL_NAMES) -> Figure:
    """Mean heartbeat of each class with a band of one standard deviation (one panel per class,
    ``names``: label → name, default ECG5000's; several channels: one curve each)."""
    fig, axes = _figure(1, len(names), sharey=True)
    colors = class_colors(list(names.values()))
    for (label, name), ax in zip(names.items(), axes):
        beats = values[targets == label]
        for mean, std in zip(beats.mean(axis=0).reshape(values.shape[1], -1).T,
                             beats.std(axis=0).reshape(values.shape[1], -1).T):
            ax.plot(mean, color=colors[name], linewidth=1.5)
            ax.fill_between(np.arange(len(mean)), mean - std, mean + std, color=colors[name], alpha=0.3)
        ax.set_title(f"{name} (n={len(beats)})", fontsize=9)
        ax.set_xlabel("sample (time)")
    axes[0].set_ylabel("amplitude (z-score)")
    return fig


# ---------------------------------------------------------------- 02_train


def history(table: pd.DataFrame, reference: float | None = TUTORIAL_BEST_VAL, log_y: bool = True) -> Figure:
    """Training and validation loss per epoch (tutorial's best validation L1 dashed) and, when the
    history has it, the validation ROC-AUC per epoch beside it; one shade per ensemble member, each
    member's kept epoch marked with a dot."""
    from ecgnb.train import kept_epochs  # here, not at the top: 01_explore need not load torch

    has_auc = "val_roc_auc" in table
    fig, axes = _figure(1, 2 if has_auc else 1)
    members = sorted(table["member"].unique())
    kept = kept_epochs(table)
    for m in members:
        rows = table[table["member"] == m]
        shade = 1.0 - 0.45 * m / max(1, len(members) - 1)  # member 0 full colour, later ones lighter
        curves = [(axes[0], "train_loss", "tab:blue", "train loss"), (axes[0], "val_l1", "tab:orange", "validation L1")]
        if has_auc:  # 1 - AUC, log axis: pairs ranked the wrong way; the decisive steps 0.99 -> 0.999 stay visible
            curves.append((axes[1], "val_roc_auc", "tab:green", "validation 1 − ROC-AUC"))
        for ax, column, color, label in curves:
            y = 1 - rows[column] if column == "val_roc_auc" else rows[column]
            ax.plot(rows["epoch"], y, marker=".", markersize=3, color=mpl.colors.to_rgba(color, shade),
                    label=label if m == members[0] else None)  # one legend entry per quantity, not per member
            if m in kept.index and column != "train_loss":
                k = kept.loc[m]
                ax.plot(k["epoch"], 1 - k[column] if column == "val_roc_auc" else k[column], "o",
                        color=THRESHOLD_COLOR, markersize=5, label=None if m else "kept weights")
    if reference is not None:
        axes[0].axhline(reference, color="grey", linestyle="--", linewidth=1, label=f"tutorial best val ({reference})")
    if log_y:
        axes[0].set_yscale("log")
    axes[0].set(xlabel="epoch", ylabel="L1 per heartbeat", title="Loss per epoch")
    if has_auc:
        axes[1].set_yscale("log")
        axes[1].set(xlabel="epoch", ylabel="1 − ROC-AUC", title="Pairs ranked wrong, validation set")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(members) > 1:  # an entry that says what the lighter shades are
            ax.plot([], [], color="grey", alpha=0.55, label=f"lighter: members {members[1]}–{members[-1]}"
                    if len(members) > 2 else f"lighter: member {members[1]}")
        ax.legend(fontsize=7)
    return fig


# ---------------------------------------------------------------- 03_threshold


def loss_distributions(scores: Mapping[str, np.ndarray], threshold: float | None = None,
                       bins: int = 60, colors: Sequence[str] = SET_COLORS) -> Figure:
    """Overlaid density histograms of anomaly scores, one per named set, plus the threshold.

    The x axis is logarithmic because abnormal beats reconstruct several times worse than
    normal ones; all sets share the same bins so their shapes compare directly.
    """
    fig, (ax,) = _figure()
    everything = np.concatenate([np.asarray(v, dtype=float) for v in scores.values()])
    edges = np.histogram_bin_edges(np.log10(np.clip(everything, 1e-9, None)), bins=bins)  # shared, in log10
    for (name, values), color in zip(scores.items(), colors):
        sns.histplot(x=np.asarray(values, dtype=float), bins=edges, stat="density", kde=True, color=color,
                     log_scale=True, element="step", alpha=0.25, label=f"{name} (n={len(values)})", ax=ax)
    if threshold is not None:
        _vline(ax, threshold, f"threshold {threshold:.2f}")
    ax.set(xlabel="anomaly score (reconstruction error per heartbeat, log scale)", ylabel="density",
           title="Where the scores fall")
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- 04_evaluate


def confusion(counts: Mapping[str, int]) -> Figure:
    """The 2 x 2 confusion matrix (rows: truth, columns: prediction) from tn/fp/fn/tp counts.

    Cells show counts; the shading is the share of each true class, so the small normal row is
    as readable as the large abnormal one.
    """
    matrix = pd.DataFrame([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]],
                          index=["normal", "abnormal"], columns=["normal", "abnormal"])
    shares = matrix.div(matrix.sum(axis=1).clip(lower=1), axis=0)
    fig, (ax,) = _figure()
    sns.heatmap(shares, annot=matrix, fmt="d", cmap="Blues", vmin=0, vmax=1, cbar=False, square=True,
                ax=ax, annot_kws={"fontsize": 12})
    ax.set(xlabel="predicted", ylabel="true", title="Test set: truth vs prediction (shade: share of row)")
    return fig


def roc_pr(normal_scores: np.ndarray, anomaly_scores: np.ndarray, threshold: float | None = None) -> Figure:
    """ROC curve and precision-recall curve (anomaly = positive), the threshold marked on both."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    y = np.r_[np.zeros(len(normal_scores)), np.ones(len(anomaly_scores))]
    s = np.r_[normal_scores, anomaly_scores]
    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    fig, (roc, pr) = _figure(1, 2)
    floor = 0.5 / max(len(normal_scores), 1)  # half a false alarm: where the log axis starts
    roc.plot(np.clip(fpr, floor, None), tpr, label=f"ROC (AUC {auc(fpr, tpr):.3f})")
    chance = np.geomspace(floor, 1, 50)
    roc.plot(chance, chance, color="grey", linestyle=":", linewidth=1, label="no skill (random scores)")
    roc.set_xscale("log")  # the few false alarms a usable detector may raise get most of the width
    roc.set(xlabel="false positive rate (1 - specificity), log scale", ylabel="true positive rate (recall)")
    share = float(y.mean())  # a detector that flags at random has this precision at every recall
    pr.plot(recall, precision, label="precision-recall")
    pr.axhline(share, color="grey", linestyle=":", linewidth=1, label=f"no skill (share of abnormal {share:.2f})")
    pr.set(xlabel="recall", ylabel="precision", ylim=(max(0.0, share - 0.05), 1.005),
           title="zoomed: precision from the no-skill line up")
    if threshold is not None:
        hit = (s > threshold)
        tp_rate, fp_rate = hit[y == 1].mean(), hit[y == 0].mean()
        prec = hit[y == 1].sum() / max(hit.sum(), 1)
        roc.plot([fp_rate], [tp_rate], "o", color=THRESHOLD_COLOR, label="threshold")
        pr.plot([tp_rate], [prec], "o", color=THRESHOLD_COLOR, label="threshold")
    for ax in (roc, pr):
        ax.legend(loc="lower right" if ax is roc else "lower left", fontsize=8)
    return fig


# ---------------------------------------------------------------- 05_visualize


def reconstructions(originals: np.ndarray, recons: np.ndarray, labels: Sequence[str],
                    scores: Sequence[float], ncols: int = 6, names: Sequence[str] = CLASS_NAMES) -> Figure:
    """A grid of heartbeats, each with its reconstruction dashed on top, titled with class and anomaly score
    (``names``: every class, for the colours)."""
    n = len(originals)
    nrows = -(-n // ncols)
    fig, axes = _figure(nrows, ncols, height=1.7 * nrows, sharey=True)
    colors = class_colors(names)
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_axis_off()
            continue
        _beat(ax, originals[i], recons[i], f"{labels[i]}\nscore {scores[i]:.1f}", colors.get(labels[i], "grey"))
        if i % ncols == 0:
            ax.set_ylabel("amplitude (z)", fontsize=7)
        if i >= n - ncols:
            ax.set_xlabel("sample", fontsize=7)
    axes[0].legend(fontsize=6, loc="lower left")
    return fig


def latent_map(codes: np.ndarray, labels: Sequence[str], names: Sequence[str] = CLASS_NAMES) -> Figure:
    """The codes projected to 2-D with PCA, one colour per class (``names``: every class, in order)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0)
    xy = pca.fit_transform(np.asarray(codes, dtype=float))
    labels = np.asarray(labels)
    fig, (ax,) = _figure(height=4.5)
    colors = class_colors(names)
    for name in [c for c in names if c in set(labels)] + sorted(set(labels) - set(names)):
        pick = labels == name
        ax.scatter(xy[pick, 0], xy[pick, 1], s=6, alpha=0.6, color=colors.get(name, "grey"),
                   label=f"{name} (n={pick.sum()})", rasterized=True)
    ratio = pca.explained_variance_ratio_
    ax.set(xlabel=f"PC 1 ({ratio[0]:.0%} of variance)", ylabel=f"PC 2 ({ratio[1]:.0%} of variance)",
           title="The codes in two dimensions (PCA)")
    ax.legend(fontsize=8, markerscale=2)
    return fig
