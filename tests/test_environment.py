"""environment.yml (conda) and pyproject.toml (pip) describe the same environment; a plain install holds what
the notebooks and `ecgnb` use, and the test tools come only with the `test` extra, which the test targets install."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: tomli is pytest's own dependency there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TESTED = ("3.10", "3.11", "3.12", "3.13")  # the versions docs/results.md says were set up and run
TEST_TOOLS = {"pytest", "pytest-xdist", "nbval", "hypothesis", "mutmut", "playwright"}
TEST_TARGETS = ("test", "test-fast", "test-notebooks", "test-lab", "test-machines", "mutation")
USER_TARGETS = ("setup", "report", "lab", "notebooks")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def conda_python() -> SpecifierSet:
    """environment.yml's ``python>=a,<b`` as a specifier set."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(pins) == 1, pins
    return SpecifierSet(pins[0].removeprefix("python"))


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    project_lines = [p for p in pip if p.startswith("-e ")]
    assert len(project_lines) == 1, "environment.yml must install the project itself, once"
    extras = Requirement("ecgnb" + project_lines[0].removeprefix("-e .")).extras
    assert extras == {"test"}, "environment.yml installs the project with its test extra: -e .[test]"
    assert extras <= set(project()["optional-dependencies"]), "environment.yml names an extra pyproject.toml lacks"
    assert sorted(p for p in pip if p not in project_lines) == sorted(project()["dependencies"])


def test_a_plain_install_brings_no_test_tool():
    assert not names(project()["dependencies"]) & TEST_TOOLS
    assert names(project()["optional-dependencies"]["test"]) == TEST_TOOLS
    assert "aeon" in names(project()["optional-dependencies"]["bench"])


def test_the_package_imports_no_test_tool():
    """What `pip install .` leaves out, ecgnb must not import (a test tool here would break a plain install)."""
    modules = {m.replace("-", "_") for m in TEST_TOOLS} | {"xdist", "_pytest"}
    for source in (ROOT / "ecgnb").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            imported = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not {i.split(".")[0] for i in imported} & modules, f"{source.relative_to(ROOT)} imports {imported}"


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize("target", TEST_TARGETS + USER_TARGETS)
def test_only_the_test_targets_install_the_extras(tmp_path, target):
    bin_dir = tmp_path / "bin"
    fake_pythons(bin_dir, {"python3": True})
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").touch()
    done = subprocess.run([shutil.which("make"), "-n", "-B", target], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": str(bin_dir)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install --quiet --no-compile -e .\n" in done.stdout  # every target sets up the core first
    assert ("-e '.[test,bench]'" in done.stdout) is (target in TEST_TARGETS)


@pytest.mark.parametrize("version, allowed", [*((v, True) for v in TESTED), ("3.9", False), ("3.14", False)])
def test_both_files_allow_the_same_python_versions(version, allowed):
    assert (version in SpecifierSet(project()["requires-python"])) is allowed
    assert (version in conda_python()) is allowed


def test_makefile_looks_for_the_same_versions():
    makefile = (ROOT / "Makefile").read_text()
    assert f"PY_RANGE := {TESTED[0]} to {TESTED[-1]}" in makefile
    assert "(3, 10) <= sys.version_info[:2] <= (3, 13)" in makefile
    assert all(f"python{v}" in makefile for v in TESTED)


def fake_pythons(folder: Path, fits: dict[str, bool]) -> None:
    """Executables named like Pythons that pass (or fail) the Makefile's version check."""
    folder.mkdir()
    for name, ok in fits.items():
        (folder / name).write_text(f"#!/bin/sh\nexit {0 if ok else 1}\n")
        (folder / name).chmod(0o755)


def make(tmp_path: Path, path: Path, *args: str) -> subprocess.CompletedProcess:
    """``make -B setup`` on a copy of the Makefile, with only ``path`` on the PATH."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").touch()
    return subprocess.run([shutil.which("make"), "-B", "setup", *args], cwd=tmp_path, capture_output=True,
                          text=True, env={"PATH": str(path)}, timeout=60)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_makefile_prefers_python3_then_the_newest_that_fits(tmp_path):
    bin_dir = tmp_path / "bin"
    fake_pythons(bin_dir, {"python3": False, "python3.13": False, "python3.12": True, "python3.10": True})
    assert "python3.12 -m venv .venv" in make(tmp_path, bin_dir, "-n").stdout
    (bin_dir / "python3").write_text("#!/bin/sh\nexit 0\n")
    assert "python3 -m venv .venv" in make(tmp_path, bin_dir, "-n").stdout
    assert "/opt/py/bin/python -m venv .venv" in make(tmp_path, bin_dir, "-n", "PYTHON=/opt/py/bin/python").stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_makefile_without_a_python_that_fits_says_what_to_install(tmp_path):
    bin_dir = tmp_path / "bin"
    fake_pythons(bin_dir, {"python3": False, "python3.9": True})
    done = make(tmp_path, bin_dir)
    assert done.returncode != 0 and not (tmp_path / ".venv").exists()
    assert "error: no Python 3.10 to 3.13 with venv found" in done.stderr and "PYTHON=/path/to/python3.x" in done.stderr


def test_torch_is_pinned_to_the_cpu_wheel():
    assert "torch==2.13.0" in project()["dependencies"]
