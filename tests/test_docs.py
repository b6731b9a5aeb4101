"""The documents: README.md short, every relative link in README, CONTRIBUTING, CHANGELOG and docs/*.md
resolving (files and #anchors), docs/parameters.md as generated from ecgnb/config.py, no issue numbers."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from ecgnb.runner import parameters_page
from ecgnb.config import Config

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md",
                    *(ROOT / "docs").glob("*.md")])
PRODUCT = [d for d in DOCUMENTS if d.name != "CHANGELOG.md"]  # history is the changelog's business only
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def broken_links(document: Path) -> list[str]:
    """The relative links of ``document`` whose file or #anchor does not exist."""
    text = document.read_text()
    broken = []
    for target in LINK.findall(re.sub(r"```.*?```", "", text, flags=re.S)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not ours to check offline
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            broken.append(target)
    return broken


def test_every_document_exists():
    assert all(d.is_file() for d in DOCUMENTS)
    assert {d.name for d in DOCUMENTS} >= {"results.md", "design.md", "testing.md", "studies.md", "parameters.md"}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.name)
def test_every_relative_link_resolves(document):
    assert broken_links(document) == []


def test_the_link_check_sees_a_missing_file_and_anchor(tmp_path):
    (tmp_path / "a.md").write_text("# A title\n\n[ok](#a-title) [no](#nope) [file](b.md) [web](https://x.org)\n")
    assert broken_links(tmp_path / "a.md") == ["#nope", "b.md"]


def test_the_readme_is_short_and_links_every_document():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for document in DOCUMENTS:
        if document.name != "README.md":
            assert str(document.relative_to(ROOT)) in readme, f"README does not link {document.name}"


@pytest.mark.parametrize("document", PRODUCT, ids=lambda d: d.name)
def test_no_issue_numbers_in_the_product(document):
    assert not re.findall(r"#\d+\b|\bissue \d+", document.read_text(), flags=re.I)


def test_every_document_says_who_it_is_for():
    for document in [d for d in DOCUMENTS if d.name != "README.md"]:
        opening = document.read_text().split("\n\n", 2)[1]
        assert re.match(r"(For|Who|This page is for)\b", opening), f"{document.name}: {opening[:60]!r}"


def test_the_parameters_page_is_generated_from_the_config():
    assert parameters_page.PAGE.read_text() == parameters_page.page(), "docs/parameters.md is stale: run python -m ecgnb.runner.parameters_page"
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+?) \|", parameters_page.page(), flags=re.M))
    assert list(rows) == [f.name for f in fields(Config)]
    assert {k: yaml.safe_load(v) for k, v in rows.items()} == Config().to_dict()
    assert "threshold_rule` | str | train_percentile | `fixed`, `train_percentile`," in parameters_page.page()


def test_the_parameters_page_check_says_when_it_is_stale(tmp_path, monkeypatch, capsys):
    assert parameters_page.main(["--check"]) == 0
    monkeypatch.setattr(parameters_page, "PAGE", tmp_path / "parameters.md")
    (tmp_path / "parameters.md").write_text("# old\n")
    assert parameters_page.main(["--check"]) == 1 and "out of date" in capsys.readouterr().err
    assert parameters_page.main([]) == 0 and parameters_page.main(["--check"]) == 0
