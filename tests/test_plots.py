"""ecgnb.plots on tiny synthetic arrays: each function returns a Figure of the right shape, headless."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ecgnb import plots  # noqa: E402
from ecgnb.data import CLASS_NAMES  # noqa: E402

RNG = np.random.default_rng(0)
T = 140


@pytest.fixture(autouse=True)
def _styled():
    plots.setup()
    yield
    assert plt.get_fignums() == [], "plot functions must not register figures with pyplot"


def beats(n: int) -> np.ndarray:
    """n smooth synthetic heartbeats (n, T) float32."""
    t = np.linspace(0, 2 * np.pi, T)
    return (np.sin(t)[None] + 0.1 * RNG.normal(size=(n, T))).astype(np.float32)


def visible(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.axison]


def test_class_counts_one_bar_per_class():
    fig = plots.class_counts({"Normal": 30, "R on T": 20, "PVC": 5, "SP": 4, "UB": 1})
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(fig.axes[0].patches) == 5


def test_class_means_one_panel_per_class():
    targets = np.repeat(np.arange(1, 6), 4)
    fig = plots.class_means(beats(len(targets)), targets)
    assert len(fig.axes) == len(CLASS_NAMES)
    assert all(len(ax.get_lines()) == 1 for ax in fig.axes)
    assert [ax.get_title() for ax in fig.axes][0] == "Normal (n=4)"


@pytest.mark.parametrize("reference, lines", [(9.72, 3), (None, 2)])
def test_history_train_val_and_reference(reference, lines):
    table = pd.DataFrame({"member": 0, "epoch": [1, 2, 3], "train_loss": [50.0, 30.0, 20.0],
                          "val_l1": [45.0, 28.0, 21.0], "best": [True, True, True]})
    fig = plots.history(table, reference=reference)
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == lines + 1  # + the kept epoch's dot


def test_history_of_an_ensemble_draws_each_member_and_marks_its_kept_epoch():
    table = pd.DataFrame({"member": [0, 0, 0, 1, 1, 1], "epoch": [1, 2, 3] * 2,
                          "train_loss": [50.0, 30.0, 20.0, 52.0, 31.0, 22.0], "val_l1": [45.0, 28.0, 21.0, 47.0, 29.0, 20.0],
                          "val_roc_auc": [0.9, 0.99, 0.98, 0.8, 0.97, 0.985], "best": [True, True, False, True, True, True]})
    fig = plots.history(table)
    loss_ax, auc_ax = fig.axes
    # per member: train, val, kept dot; + the tutorial's best; + the empty line of the "lighter" legend entry
    assert len(loss_ax.get_lines()) == 2 * (2 + 1) + 1 + 1
    assert len(auc_ax.get_lines()) == 2 * (1 + 1) + 1
    dots = [line.get_xydata().tolist() for line in auc_ax.get_lines() if line.get_marker() == "o"]
    assert dots == [[[2.0, pytest.approx(0.01)]], [[3.0, pytest.approx(0.015)]]]  # 1 - ROC-AUC at each kept epoch
    labels = [t.get_text() for t in auc_ax.get_legend().get_texts()]
    assert labels == ["validation 1 − ROC-AUC", "kept weights", "lighter: member 1"]  # one entry per quantity


def test_loss_distributions_one_kde_per_set_plus_threshold():
    losses = {"train": RNG.gamma(5, 3, 200), "val": RNG.gamma(5, 3, 50), "val anomalies": RNG.gamma(9, 6, 60)}
    fig = plots.loss_distributions(losses, threshold=25.0)
    ax, = fig.axes
    assert len(ax.get_lines()) == 3 + 1  # a KDE per set + the threshold
    assert "threshold 25.00" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(plots.loss_distributions(losses).axes[0].get_lines()) == 3


def test_confusion_annotates_counts():
    fig = plots.confusion({"tn": 140, "fp": 5, "fn": 10, "tp": 1500})
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert len(fig.axes) == 1 and {"140", "5", "10", "1500"} <= texts


def test_roc_pr_two_panels_with_threshold_marker():
    fig = plots.roc_pr(RNG.gamma(5, 3, 40), RNG.gamma(9, 6, 80), threshold=25.0)
    roc, pr = fig.axes
    assert len(roc.get_lines()) == 3  # curve, no-skill diagonal, threshold dot
    assert len(pr.get_lines()) == 3  # curve, no-skill line at the share of abnormal beats, threshold dot
    assert pr.get_lines()[1].get_ydata()[0] == pytest.approx(80 / 120)
    assert roc.get_xscale() == "log" and pr.get_ylim()[0] == pytest.approx(80 / 120 - 0.05)
    assert len(plots.roc_pr(RNG.gamma(5, 3, 40), RNG.gamma(9, 6, 80)).axes[0].get_lines()) == 2


def test_ecg_waves_shades_and_names_each_wave():
    fig = plots.ecg_waves(np.sin(np.linspace(0, 6, 140)))
    ax, = fig.axes
    assert [t.get_text() for t in ax.texts] == list(plots.WAVES) and len(ax.patches) == len(plots.WAVES)


def test_class_counts_show_the_rarest_class():
    ax, = plots.class_counts({"Normal": 2919, "UB": 24}).axes
    assert ax.get_yscale() == "log"


@pytest.mark.parametrize("n, ncols, panels", [(12, 6, 12), (8, 4, 8), (5, 4, 8)])
def test_reconstructions_grid(n, ncols, panels):
    x = beats(n)
    labels = ["Normal"] * (n // 2) + ["PVC"] * (n - n // 2)
    fig = plots.reconstructions(x, x * 0.9, labels, np.arange(n, dtype=float), ncols=ncols)
    assert len(fig.axes) == panels and len(visible(fig)) == n
    assert all(len(ax.get_lines()) == 2 for ax in visible(fig))  # original + reconstruction
    assert visible(fig)[-1].get_title() == f"PVC\nscore {n - 1:.1f}"


def test_latent_map_one_group_per_class_present():
    labels = np.array(["Normal", "R on T", "UB"])[RNG.integers(0, 3, 60)]
    fig = plots.latent_map(RNG.normal(size=(60, 8)), labels)
    ax, = fig.axes
    assert len(ax.collections) == len(set(labels))
    assert ax.get_xlabel().startswith("PC 1")


def test_save_writes_small_png_and_shows_that_file(tmp_path):
    fig = plots.class_means(beats(10), np.repeat(np.arange(1, 6), 2))
    saved = plots.save(fig, tmp_path / "run", "means")
    assert saved.path == tmp_path / "run" / "figures" / "means.png"
    assert saved.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved.path.stat().st_size < 120_000
    assert saved._repr_png_() == saved.path.read_bytes()  # what a notebook shows is the file, not a redraw
    assert repr(saved) == repr(fig) == "<Figure size 800x350 with 5 Axes>"  # the text nbval compares


def test_import_changes_no_global_style():
    code = ("import matplotlib as mpl; before = dict(mpl.rcParams); import ecgnb.plots; "
            "changed = [k for k, v in mpl.rcParams.items() if before[k] != v]; assert not changed, changed")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(plots.__file__).resolve().parents[1])
