"""ecgnb.runner.pages (the index, each run's page), ecgnb.runner.compare (compare and seed-study tables) and
ecgnb.runner.study_table (a study's table); every link resolves."""

from __future__ import annotations

import shutil

from ecgnb import runs
from ecgnb.runner import compare, grid, pages, study_table
from ecgnb.config import Config
from tests.run_folders import METRICS_04, broken_links, links, make_run

FAILURE = {"notebook": "03_threshold", "cell": 5, "error": "ValueError: x <y>", "html": "03_threshold.html"}


# ---------------------------------------------------------------- index


def test_index_lists_complete_failed_and_incomplete_runs(tmp_path):
    make_run(tmp_path, "good", "complete", Config(embedding_dim=32), METRICS_04)
    make_run(tmp_path, "broken", "failed", Config(epochs=3), failure=FAILURE)
    make_run(tmp_path, "killed", "incomplete")
    (tmp_path / ".hidden.tmp-1").mkdir()  # not a run
    (tmp_path / "notes").mkdir()  # not a run either
    runs.open_run(tmp_path / "by-hand")  # notebooks run by hand: params.yaml, no run.json
    pages.write_run_page(tmp_path / "good")  # the only run with a page so far
    md_path, html_path = pages.write_index(tmp_path)
    md = md_path.read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert set(rows) == {"run", "---", "[good](good/index.html)", "broken", "killed", "by-hand"}
    good = rows["[good](good/index.html)"]
    assert "| manual |" in rows["by-hand"]
    assert "| complete |" in good and "| 32 |" in good and "| 0.970 | 0.930 | 0.950 | 0.960 |" in good
    assert "| 142/145 · 143/145 | 12.3 |" in good
    assert "failed: 03_threshold [5]" in rows["broken"]
    assert "| incomplete |" in rows["killed"]
    page = html_path.read_text()
    assert '<a href="good/index.html">good</a>' in page and '<td class="wrap">broken</td>' in page  # no page: no link
    assert "failed: 03_threshold [5]" in page and "incomplete" in page
    assert "train_<wbr>percentile" in page  # long values may wrap
    assert broken_links(html_path) == []


def test_index_of_an_empty_folder(tmp_path):
    md_path, html_path = pages.write_index(tmp_path / "reports")
    assert "No runs yet" in md_path.read_text() and html_path.is_file()


def test_tables_escape_what_they_must():
    assert pages.markdown_table(["a", "b"], [["x|y", 1]]).splitlines() == ["| a | b |", "| --- | --- |",
                                                                           "| x\\|y | 1 |"]
    page = pages.html_table(["name", pages.link("a&b", "x y.html")], [["<b>", pages.link("x", "x.html")]])
    assert "<td>&lt;b&gt;</td>" in page and '<td><a href="x.html">x</a></td>' in page
    assert '<th><a href="x y.html">a&amp;b</a></th>' in page


# ---------------------------------------------------------------- a run's page


def test_run_page_shows_what_a_reader_needs_first(tmp_path):
    run_dir = make_run(tmp_path, "e16", "complete", Config(embedding_dim=16, lr=3e-4), METRICS_04,
                       figures=("roc_pr", "history", "class_counts"))
    page = pages.write_run_page(run_dir).read_text()
    assert "<strong>complete</strong>" in page and "12.3 s" in page
    # parameters that differ from the defaults, each beside its default; nothing else
    assert "<tr><td>embedding_dim</td><td>16</td><td>32</td></tr>" in page
    assert "<tr><td>lr</td><td>0.0003</td><td>0.008</td></tr>" in page
    assert "<td>seed</td>" not in page
    # the autoencoder's metrics beside the baseline's (missing ones as a dash)
    assert "<tr><td>ROC-AUC</td><td>0.970</td><td>0.960</td></tr>" in page
    assert "<tr><td>F1</td><td>0.950</td><td>0.900</td></tr>" in page
    assert "<tr><td>PR-AUC</td><td>0.980</td><td>–</td></tr>" in page
    assert "<tr><td>tutorial check: anomalies</td><td>143/145</td><td>–</td></tr>" in page
    assert "<th>5-NN distance</th>" in page and "threshold rule val_best_f1" in page
    # the key figures that exist (class_counts is not one), notebooks and files
    assert set(h for h in links(run_dir / "index.html") if h.startswith("figures/")) == {
        "figures/roc_pr.png", "figures/history.png"}
    assert {"01_explore.html", "02_train.html", "metrics.json", "params.yaml", "run.json"} <= set(
        links(run_dir / "index.html"))
    assert "<td>03_threshold</td><td>pending</td>" in page  # no HTML yet: named, not linked
    assert broken_links(run_dir / "index.html") == []


def test_run_page_of_a_failed_run_says_where(tmp_path):
    run_dir = make_run(tmp_path, "bad", "failed", failure={**FAILURE, "html": "02_train.html"})
    page = pages.write_run_page(run_dir).read_text()
    # the line `ecgnb run` says, escaped, its "see" a link to the failing notebook
    assert ('03_threshold failed at cell [5]: ValueError: x &lt;y&gt; (see <a href="02_train.html">02_train.html</a>)'
            in page)
    assert "Results on the held-out test set" not in page  # no metrics.json: no table
    assert "None: every parameter has its default value" in page


def test_run_page_of_a_run_that_stopped_outside_a_notebook_says_so(tmp_path):
    failure = {"notebook": None, "cell": None, "html": None, "error": "`ecgnb run` ended with exit code -15"}
    page = pages.write_run_page(make_run(tmp_path, "killed", "failed", failure=failure)).read_text()
    assert '<p class="failed">the run failed: `ecgnb run` ended with exit code -15</p>' in page


def test_a_moved_run_folder_still_opens(tmp_path):
    run_dir = make_run(tmp_path / "reports", "r", "complete", Config(epochs=3), METRICS_04, figures=("roc_pr",))
    pages.write_run_page(run_dir)
    moved = shutil.move(str(run_dir), str(tmp_path / "elsewhere" / "deep" / "r"))
    assert broken_links(tmp_path / "elsewhere" / "deep" / "r" / "index.html") == []
    assert str(tmp_path) not in (tmp_path / "elsewhere" / "deep" / "r" / "index.html").read_text(), moved


def test_run_pages_are_written_for_every_run(tmp_path):
    make_run(tmp_path, "a", "complete")
    make_run(tmp_path, "b", "running")
    assert sorted(p.parent.name for p in pages.write_run_pages(tmp_path)) == ["a", "b"]


def test_broken_links_are_found(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<a href="there.html">x</a><img src="/abs/x.png"><a href="file:///x">y</a>'
                    '<a href="https://example.org">ok</a><a href="#top">ok</a><a href="p.html">ok</a>')
    assert broken_links(page) == ["there.html", "/abs/x.png", "file:///x"]


# ---------------------------------------------------------------- compare


def test_compare_shows_differing_parameters_and_metrics(tmp_path):
    a = make_run(tmp_path, "a", "complete", Config(embedding_dim=32, lr=3e-4), METRICS_04)
    b = make_run(tmp_path, "b", "complete", Config(embedding_dim=64, lr=3e-3), METRICS_04)
    headers, rows, notes = compare.compare_table([a, b])
    assert headers == ["", "a", "b"]
    table = {r[0]: r[1:] for r in rows}
    assert table["embedding_dim"] == ["32", "64"] and table["lr"] == ["0.0003", "0.003"]
    assert "seed" not in table and table["roc_auc"] == ["0.970", "0.970"]
    assert table["tutorial normal correct"] == ["142/145", "142/145"]
    assert notes and "seed=42" in notes[0]
    md = compare.write_compare([a, b], tmp_path / "cmp.md", "Compare a, b")
    assert md.startswith("# Compare a, b") and (tmp_path / "cmp.html").is_file()


def test_compare_page_links_each_run_page_from_wherever_it_is_written(tmp_path):
    reports = tmp_path / "reports"
    dirs = [make_run(reports, name, "complete", Config(seed=seed), METRICS_04) for name, seed in (("a", 1), ("b", 2))]
    make_run(reports, "c", "complete")  # no page: named, not linked
    for d in dirs:
        pages.write_run_page(d)
    for out in (reports / "compare.md", tmp_path / "elsewhere" / "cmp.html"):
        compare.write_compare([*dirs, reports / "c"], out, "Compare")
        page = out.with_suffix(".html")
        assert sorted(links(page)) == sorted(compare.relative_href(d / "index.html", page.parent) for d in dirs)
        assert broken_links(page) == []
    assert links(reports / "compare.html") == ["a/index.html", "b/index.html"]


def test_compare_of_a_seed_study_adds_mean_and_std(tmp_path):
    dirs = []
    for seed, auc, anomalies in [(1, 0.8, 140), (2, 0.9, 142), (3, 1.0, 144)]:
        metrics = {"held_out": {**METRICS_04["held_out"], "roc_auc": auc},
                   "tutorial": {**METRICS_04["tutorial"], "anomaly_correct": anomalies},
                   "baseline": {"held_out": {"roc_auc": auc - 0.1, "balanced_accuracy": 0.9}}}
        dirs.append(make_run(tmp_path, f"s-seed{seed}", "complete", Config(seed=seed), metrics))
    headers, rows, _ = compare.compare_table(dirs)
    assert headers[-1] == "mean ± std (n=3)"
    table = {r[0]: r[1:] for r in rows}
    assert table["seed"] == ["1", "2", "3", ""]
    assert table["roc_auc"][-1] == "0.900 ± 0.100"
    assert table["f1"][-1] == "0.950 ± 0.000"
    assert table["tutorial anomaly correct"][-1] == "142.000 ± 2.000"
    assert table["pr_auc"][-1] == ""  # mean ± std only for the headline metrics
    assert table["baseline_roc_auc"] == ["0.700", "0.800", "0.900", "0.800 ± 0.100"]
    assert table["baseline_balanced_accuracy"][-1] == "0.900 ± 0.000"


def test_not_a_seed_study_when_more_than_the_seed_differs(tmp_path):
    a = make_run(tmp_path, "a", "complete", Config(seed=1), METRICS_04)
    b = make_run(tmp_path, "b", "complete", Config(seed=2, epochs=3), METRICS_04)
    assert not any("mean" in h for h in compare.compare_table([a, b])[0])
    assert not compare.is_seed_study([{"seed": 1}, {"seed": 1}])


# ---------------------------------------------------------------- a study's table


def test_study_table_gives_mean_and_std_per_configuration_and_links_every_run(tmp_path):
    planned = [grid.PlannedRun(f"s-e{e}-seed{seed}", Config(embedding_dim=e, seed=seed), (("embedding_dim", e),))
               for e in (8, 16) for seed in (1, 2)]
    for p, auc in zip(planned[:3], (0.90, 0.96, 0.80)):
        metrics = {**METRICS_04, "held_out": {**METRICS_04["held_out"], "roc_auc": auc}}
        make_run(tmp_path, p.name, "complete", p.cfg, metrics=metrics)
    (tmp_path / planned[0].name / "04_evaluate.html").write_text("<html></html>")
    (tmp_path / planned[1].name / "index.html").write_text("<html></html>")  # a run page wins
    make_run(tmp_path, planned[3].name, "failed", planned[3].cfg,
             failure={"notebook": "02_train", "cell": 5, "error": "boom", "html": "02_train.html"})
    md = study_table.write("s", planned, tmp_path)
    rows = {line.split(" | ")[0]: line for line in md.splitlines() if line.startswith("| ")}
    assert "| embedding_dim | complete | roc_auc |" in md
    assert rows["| 8"].startswith("| 8 | 2/2 | 0.930 ± 0.042 |")  # mean 0.93, sample std 0.06/√2
    assert rows["| 16"].startswith("| 16 | 1/2 | 0.800 |")  # one complete run: its value alone
    assert "[seed1](s-e8-seed1/04_evaluate.html) [seed2](s-e8-seed2/index.html)" in rows["| 8"]
    assert "[seed2](s-e16-seed2/02_train.html)" in rows["| 16"]  # a failed run opens its failing notebook
    assert "| failed: 02_train [5] |" in md
    page = (tmp_path / "s.html").read_text()
    assert '<a href="s-e8-seed1/04_evaluate.html">seed1</a>' in page and "<h2>Runs</h2>" in page
    assert broken_links(tmp_path / "s.html") == []  # every run's link opens a page that exists
