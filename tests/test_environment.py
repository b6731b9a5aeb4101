"""environment.yml (conda) and pyproject.toml (pip) describe the same environment."""

import re
import shutil
import subprocess
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
TESTED = ("3.10", "3.11", "3.12", "3.13")  # the versions docs/results.md says were set up and run


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
