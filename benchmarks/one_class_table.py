"""The one-class benchmark's tables: per set and detector the ROC-AUC (×100) over classes and seeds,
the published columns beside them, the check of its own 1-NN against the published one, CSV and Markdown.

    summarize()   task results → one row per set and detector (complete sets only)
    published()   the published 1-NN columns, read from a small CSV (its source named in it)
    check()       where its own 1nn is off the published nn1_euclidean by more than TOLERANCE
    markdown()    the table side by side, the mean and mean rank over sets, each detector's time
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from benchmarks.one_class_tasks import GROUPS, Task
from ecgnb.runner import pages
from ecgnb.errors import EcgnbError

PUBLISHED = Path(__file__).with_name("one_class_published.csv")
PUBLISHED_COLUMNS = {"nn1_euclidean": "published 1-NN Euclidean", "nn1_best_of_12": "published best of 12 (oracle)"}
COLUMNS = ["dataset", "detector", "roc_auc", "roc_auc_std", "seconds"]
TOLERANCE = 0.1  # ×100: its own 1-NN Euclidean must reproduce the published column this closely
MARKS = "¹²³⁴⁵⁶⁷⁸⁹"


def summarize(tasks: Sequence[Task], results: Mapping[str, Mapping[str, Any]],
              detectors: Sequence[str]) -> pd.DataFrame:
    """Per set and detector: mean over seeds of the mean over classes (×100), the sample std over seeds
    (NaN for one seed or a deterministic detector) and the seconds of all its tasks. A set with a task
    missing (failed or not run) has no row for that task's detectors."""
    grouped: dict[tuple[str, str], list[Task]] = {}
    for task in tasks:
        grouped.setdefault((task.dataset, task.group), []).append(task)
    rows = []
    for (dataset, group), members in grouped.items():
        if any(t.name not in results for t in members):
            continue
        for detector in (d for d in GROUPS[group] if d in detectors):
            by_seed: dict[int | None, list[float]] = {}
            for t in members:
                by_seed.setdefault(t.seed, []).append(100 * results[t.name]["detectors"][detector]["roc_auc"])
            means = [statistics.fmean(v) for v in by_seed.values()]
            rows.append({"dataset": dataset, "detector": detector, "roc_auc": statistics.fmean(means),
                         "roc_auc_std": statistics.stdev(means) if len(means) > 1 else np.nan,
                         "seconds": sum(results[t.name]["detectors"][detector]["seconds"] for t in members)})
    return pd.DataFrame(rows, columns=COLUMNS)


def published(path: Path) -> pd.DataFrame:
    """The published columns by set (``# `` lines are comments); a missing or malformed file is a user error."""
    try:
        table = pd.read_csv(path, comment="#").set_index("dataset")
    except (OSError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise EcgnbError(f"--published {path}: cannot be read ({type(err).__name__}); pass a CSV with columns "
                         f"dataset, {', '.join(PUBLISHED_COLUMNS)}") from None
    missing = [c for c in PUBLISHED_COLUMNS if c not in table.columns]
    if missing:
        raise EcgnbError(f"--published {path}: no column {', '.join(missing)}; add it (×100, one row per set)")
    return table[list(PUBLISHED_COLUMNS)]


def with_published(summary: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """``summary`` plus a row per published column for each set it holds that the reference has."""
    sets = [s for s in summary["dataset"].unique() if s in reference.index]
    rows = [{"dataset": s, "detector": column, "roc_auc": float(reference.at[s, column]), "roc_auc_std": np.nan,
             "seconds": np.nan} for s in sets for column in PUBLISHED_COLUMNS]
    return pd.concat([summary, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True) if rows else summary


def check(summary: pd.DataFrame, reference: pd.DataFrame) -> list[str]:
    """``SET: 1nn X vs published Y`` for each set where the two differ by more than TOLERANCE."""
    own = summary[summary["detector"] == "1nn"].set_index("dataset")["roc_auc"]
    return [f"{s}: 1nn {own[s]:.2f} vs published nn1_euclidean {reference.at[s, 'nn1_euclidean']:.2f}"
            for s in own.index if s in reference.index
            and abs(own[s] - reference.at[s, "nn1_euclidean"]) > TOLERANCE]


def cell(row: pd.Series | None, mark: str = "") -> str:
    if row is None:
        return pages.MISSING
    spread = "" if np.isnan(row["roc_auc_std"]) else f" ± {row['roc_auc_std']:.1f}"
    return f"{row['roc_auc']:.1f}{spread}{mark}"


def markdown(table: pd.DataFrame, sets: Sequence[str], detectors: Sequence[str], notes: Mapping[str, list[str]],
             footer: Sequence[str]) -> str:
    """The Markdown page: a row per set, then mean, mean rank and seconds; ``notes``: set → ROCKAD's notes."""
    columns = [*detectors, *(c for c in PUBLISHED_COLUMNS if c in set(table["detector"]))]
    at = {(r.dataset, r.detector): r for _, r in table.iterrows()}
    marks = {s: MARKS[i] for i, s in enumerate(s for s in sets if notes.get(s))}
    rows = [[s, *(cell(at.get((s, c)), marks.get(s, "") if c == "rockad" else "") for c in columns)] for s in sets]
    values = pd.DataFrame({c: [at[(s, c)]["roc_auc"] if (s, c) in at else np.nan for s in sets] for c in columns},
                          index=list(sets))
    ranked = [c for c in columns if c != "nn1_euclidean"]
    whole = values[ranked].dropna()
    ranks = pd.DataFrame(rankdata(-whole.to_numpy(), axis=1), columns=ranked) if len(whole) else None
    seconds = table.groupby("detector")["seconds"].sum(min_count=1)
    rows += [["**mean**", *(pages.MISSING if values[c].isna().any() else f"{values[c].mean():.1f}" for c in columns)],
             ["**mean rank**", *(f"{ranks[c].mean():.2f}" if ranks is not None and c in ranks else "not ranked"
                                 for c in columns)],
             ["**seconds**", *(pages.fmt_seconds(None if np.isnan(seconds.get(c, np.nan)) else seconds[c])
                               for c in columns)]]
    headers = ["set", *(PUBLISHED_COLUMNS.get(c, c) for c in columns)]
    lines = ["# One-class benchmark (protocol A)", "",
             "ROC-AUC ×100. For each class of a set: fit on the TRAIN series of that class alone, score every TEST "
             "series, that class normal and every other abnormal; the set's figure is the mean over its classes. "
             "A trained detector shows mean ± std (sample) over its seeds.", "", pages.markdown_table(headers, rows),
             f"Mean rank over the {len(whole)} set(s) where every ranked column has a figure (1 = best, ties "
             f"shared): {', '.join(ranked)}. The published 1-NN Euclidean is not ranked: the check holds it equal "
             "to `1nn`. Seconds: compute time of all its tasks; `ecgnb` and `ecgnb-ae` share one training per "
             "task, counted in both.", ""]
    lines += [f"{marks[s]} ROCKAD refuses a class with fewer training series than its 5 neighbours; on {s}: "
              f"{'; '.join(notes[s])}." for s in marks]
    return "\n".join([*lines, *([""] if marks else []), *footer]) + "\n"
