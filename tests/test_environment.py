"""environment.yml (conda) and pyproject.toml (pip) describe the same environment."""

import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: tomli is pytest's own dependency there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TESTED = ("3.10", "3.11", "3.12", "3.13")  # the versions the README says were set up and run


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def conda_python() -> SpecifierSet:
    """environment.yml's ``python>=a,<b`` as a specifier set."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(pins) == 1, pins
    return SpecifierSet(pins[0].removeprefix("python"))


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip, "environment.yml must install the project itself"
    assert sorted(p for p in pip if p != "-e .") == sorted(project()["dependencies"])


@pytest.mark.parametrize("version, allowed", [*((v, True) for v in TESTED), ("3.9", False), ("3.14", False)])
def test_both_files_allow_the_same_python_versions(version, allowed):
    assert (version in SpecifierSet(project()["requires-python"])) is allowed
    assert (version in conda_python()) is allowed


def test_makefile_looks_for_the_same_versions():
    makefile = (ROOT / "Makefile").read_text()
    assert f"PY_RANGE := {TESTED[0]} to {TESTED[-1]}" in makefile
    assert "(3, 10) <= sys.version_info[:2] <= (3, 13)" in makefile
    assert all(f"python{v}" in makefile for v in TESTED)


def test_torch_is_pinned_to_the_cpu_wheel():
    assert "torch==2.13.0" in project()["dependencies"]
