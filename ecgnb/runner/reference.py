"""The reference run behind the committed notebooks, and what counts as the same result elsewhere.

Two kinds of output come out of a run. *Facts* (data counts, fingerprint, split sizes,
parameters, model layout) are identical on every machine. *Results* of float training
(losses, the kept epoch, the threshold, metrics, counts at the threshold) are not: CPUs
with other instruction sets round the last bit differently, and 40 epochs of training turn
that bit into a slightly different model. So results are compared with the reference run
(``notebooks/reference.json``, written by ``make notebooks`` from the run that produced the
committed notebooks) within :data:`TOLERANCES`, which cover the spread measured across
simulated machines and weight seeds (docs/results.md) with a margin, and still catch a
real regression.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ecgnb import runs
from ecgnb.config import Config
from ecgnb.data import CLASS_NAMES
from ecgnb.errors import EcgnbError
from ecgnb.runner import places

REFERENCE = "reference.json"  # in notebooks/, next to the notebooks it describes
IGNORED_PARAMETERS = ("data_path",)  # where the data came from does not change it (the fingerprint checks that)


@dataclass(frozen=True)
class Tolerance:
    """How far a result may lie from the reference and still be the same result."""

    absolute: float = 0.0
    relative: float = 0.0  # of the reference value
    digits: int = 4  # decimals shown

    def limit(self, reference: float) -> float:
        return max(self.absolute, self.relative * abs(reference))

    def allows(self, reference: float, value: float) -> bool:
        return math.isfinite(value) and abs(value - reference) <= self.limit(reference) + 1e-9

    def show(self, value: float) -> str:
        return f"{value:.{self.digits}f}"

    def __str__(self) -> str:
        return f"±{self.relative:.0%}" if self.relative else f"±{self.show(self.absolute)}"


def _count(limit: int) -> Tolerance:
    return Tolerance(absolute=limit, digits=0)


# What each result means and how far it may move. Measured spread: docs/results.md.
TOLERANCES: dict[str, tuple[str, Tolerance]] = {
    # select_by last: every member keeps its last epoch, on any machine
    "kept_epoch": ("epoch whose weights are kept (members' mean)", Tolerance(absolute=0, digits=1)),
    "val_l1": ("validation L1 of the kept weights (members' mean)", Tolerance(relative=0.15, digits=2)),
    "val_roc_auc": ("validation ROC-AUC of the kept weights (members' mean)", Tolerance(absolute=0.004)),
    "threshold": ("threshold chosen by the run's rule", Tolerance(relative=0.20, digits=2)),
    "roc_auc": ("test ROC-AUC", Tolerance(absolute=0.007)),
    "pr_auc": ("test PR-AUC", Tolerance(absolute=0.0012)),
    "balanced_accuracy": ("test balanced accuracy", Tolerance(absolute=0.008)),
    "f1": ("test F1", Tolerance(absolute=0.005)),
    "recall": ("test recall", Tolerance(absolute=0.010)),
    "specificity": ("test specificity", Tolerance(absolute=0.014)),  # 2 of 145 normals
    "tutorial_normals": ("tutorial check: normals correct of 145", _count(2)),
    "tutorial_anomalies": ("tutorial check: anomalies correct of 145", _count(2)),
    **{f"detected_{name}": (f"{name} beats detected in the test set", _count(limit))
       for name, limit in zip(CLASS_NAMES[1:], (8, 3, 6, 3))},
    "baseline_roc_auc": ("5-NN baseline test ROC-AUC", Tolerance(absolute=0.0005)),
    "baseline_balanced_accuracy": ("5-NN baseline test balanced accuracy", Tolerance(absolute=0.0005)),
}


def results(run_dir: str | Path) -> dict[str, float]:
    """The results of a finished run, read from its folder (history, threshold, metrics)."""
    from ecgnb import train  # torch is only needed here

    run_dir = Path(run_dir)
    history = pd.read_csv(Path(run_dir) / runs.HISTORY)
    kept = train.kept_epochs(history).mean()  # an ensemble: its members' mean
    if kept.isna().all():
        raise EcgnbError(f"{Path(run_dir) / runs.HISTORY}: no epoch marked best; run 02_train again")
    threshold = runs.read_json(Path(run_dir) / runs.THRESHOLD, "03_threshold")
    metrics = runs.read_json(Path(run_dir) / runs.METRICS, "04_evaluate")
    held_out, tutorial, knn = metrics["held_out"], metrics["tutorial"], metrics["baseline"]["held_out"]
    out = {"kept_epoch": float(kept["epoch"]), "val_l1": float(kept["val_l1"]),
           "val_roc_auc": float(kept.get("val_roc_auc", math.nan)), "threshold": float(threshold["value"]),
           **{k: float(held_out[k]) for k in ("roc_auc", "pr_auc", "balanced_accuracy", "f1", "recall",
                                              "specificity")},
           "tutorial_normals": float(tutorial["normal_correct"]),
           "tutorial_anomalies": float(tutorial["anomaly_correct"]),
           **{f"detected_{name}": float(c["detected"]) for name, c in held_out["per_class"].items()},
           "baseline_roc_auc": float(knn["roc_auc"]), "baseline_balanced_accuracy": float(knn["balanced_accuracy"])}
    return {k: v for k, v in out.items() if not math.isnan(v)}


def default_path() -> Path:
    """``notebooks/reference.json`` of this checkout."""
    return places.repo_root() / "notebooks" / REFERENCE


def machine() -> dict[str, Any]:
    """What decides the rounding: the CPU, torch's kernel set and thread count, the versions."""
    import torch

    return {"cpu": cpu_name(), "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "system": platform.system()}


def cpu_name() -> str:
    """The CPU model as the OS names it (``lscpu``'s model name on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def write(run_dir: str | Path, path: str | Path | None = None) -> dict[str, Any]:
    """Record ``run_dir``'s parameters, data fingerprint and results as the reference (atomically)."""
    run_dir = Path(run_dir)
    reference = {
        "about": "The run behind the committed notebooks (make notebooks). A fresh run with these parameters "
                 "gives the same result when every value lies within ecgnb.reference.TOLERANCES of these.",
        "parameters": runs.reopen(run_dir).config.to_dict(),
        "data_fingerprint": runs.read_json(Path(run_dir) / runs.DATA_INFO, "01_explore")["fingerprint"],
        "machine": machine(),
        "results": results(run_dir),
    }
    runs.write_json(path or default_path(), reference)
    return reference


def read(path: str | Path | None = None) -> dict[str, Any]:
    """The reference file; a missing or damaged one is a one-line error."""
    path = Path(path or default_path())
    if not path.is_file():
        raise EcgnbError(f"{path}: reference not found; run `make notebooks` to create it")
    try:
        reference = json.loads(path.read_text())
        reference["parameters"], reference["results"], reference["data_fingerprint"]  # noqa: B018 - must exist
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise EcgnbError(f"{path}: not a reference file ({type(err).__name__}: {err}); "
                         "run `make notebooks` to write it again") from None
    return reference


@dataclass(frozen=True)
class Comparison:
    """A run set against the reference: one row per result, or the reason no comparison was made."""

    table: pd.DataFrame | None
    outside: tuple[str, ...] = ()  # one phrase per result outside its tolerance
    reason: str = ""  # why there is no table

    @property
    def same(self) -> bool:
        return self.table is not None and not self.outside

    def verdict(self) -> str:
        """One line, identical on every machine where the run reproduces the reference."""
        if self.table is None:
            return f"not compared with the reference run: {self.reason}"
        if not self.outside:
            return f"same result as the reference run: all {len(self.table)} results within tolerance"
        return (f"NOT the reference result: {len(self.outside)} of {len(self.table)} results outside tolerance: "
                + "; ".join(self.outside))


def compare(run_dir: str | Path, path: str | Path | None = None) -> Comparison:
    """Set ``run_dir``'s results against the reference (same parameters and data only)."""
    run_dir, path = Path(run_dir), Path(path or default_path())
    if not path.is_file():
        return Comparison(None, reason=f"there is no {path.name} (`make notebooks` writes it)")
    reference = read(path)
    if why := _differs(runs.reopen(run_dir).config, reference["parameters"]):
        return Comparison(None, reason=f"its parameters differ ({why})")
    fingerprint = runs.read_json(Path(run_dir) / runs.DATA_INFO, "01_explore")["fingerprint"]
    if fingerprint != reference["data_fingerprint"]:
        return Comparison(None, reason=f"other data (fingerprint {fingerprint}, reference "
                                       f"{reference['data_fingerprint']})")
    return check(results(run_dir), reference["results"])


def check(now: Mapping[str, float], reference: Mapping[str, float]) -> Comparison:
    """Compare result values with reference values, result by result, within :data:`TOLERANCES`."""
    rows, outside = {}, []
    for name, (meaning, tolerance) in TOLERANCES.items():
        if name not in reference:
            continue
        ref, value = float(reference[name]), float(now.get(name, math.nan))
        ok = tolerance.allows(ref, value)
        rows[name] = {"meaning": meaning, "reference": tolerance.show(ref), "this run": tolerance.show(value),
                      "tolerance": str(tolerance), "same": "yes" if ok else "NO"}
        if not ok:
            outside.append(f"{name} {tolerance.show(value)} (reference {tolerance.show(ref)} {tolerance})")
    return Comparison(pd.DataFrame.from_dict(rows, orient="index"), tuple(outside))


def _differs(cfg: Config, reference: Mapping[str, Any]) -> str:
    """The parameters (but :data:`IGNORED_PARAMETERS`) where ``cfg`` differs from the reference, or ''.

    A parameter the reference lacks (it was written before the parameter existed) ran at its default.
    """
    mine, reference = cfg.to_dict(), {**Config().to_dict(), **reference}
    keys = [k for k in dict.fromkeys([*mine, *reference]) if k not in IGNORED_PARAMETERS]
    return ", ".join(f"{k} {mine.get(k)!r}, reference {reference.get(k)!r}" for k in keys
                     if mine.get(k) != reference.get(k))
