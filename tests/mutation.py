"""`make mutation`: mutmut over the code that turns scores into verdicts, each part against its fast unit tests.

A mutant is a small change of the code (``<`` for ``<=``, ``None`` for an argument, ``"XX..XX"`` for
a string); the tests kill it when one of them then fails. mutmut runs, for each mutant, only the
tests that call the mutated function, chosen among TESTS (unit tests that train nothing).

Prints, per module, the mutants, how many were killed (a timeout counts as killed), how many
survivors ``tests/equivalent_mutants.txt`` explains, the score, and every other survivor with its
diff; exits 1 when a module scores below ``--fail-under`` or an equivalent-mutant entry is stale.
``--module ecgnb/beat_files.py`` (repeatable) mutates those modules only, and checks only their entries for staleness.
The work folder (``build/mutation``) is made anew each run; ``cd build/mutation && mutmut browse``
shows the results afterwards.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import release_data  # tests/, beside this script

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"
EQUIVALENT = ROOT / "tests" / "equivalent_mutants.txt"
# Module: the functions to mutate (None: all of them). Of ECG5000's files, the parts that check and unpack
# the data: extraction (zip safety, size caps, staging; ecg5000_files.py), verification (hashes, parsing,
# row checks: all of ecg5000_verify.py) and the fingerprint (data.py). beat_files.py: the CSV/TSV, ARFF and npz
# readers that ECG5000's files and users' beat files go through.
MODULES: dict[str, tuple[str, ...] | None] = {
    "ecgnb/threshold.py": None,
    "ecgnb/metrics.py": None,
    "ecgnb/score.py": None,
    "ecgnb/config.py": None,
    "ecgnb/ecg5000_files.py": ("_fill_cache", "_unpack", "_extract", "_check_member", "_copy_capped",
                               "_pick_pair", "_find_pair"),
    "ecgnb/ecg5000_verify.py": None,
    "ecgnb/data.py": ("fingerprint_of",),
    "ecgnb/beat_files.py": None,
}
TESTS = ("tests/test_threshold_metrics.py", "tests/test_score.py", "tests/test_config.py", "tests/test_data.py",
         "tests/test_datasets.py")
COPIED = ("ecgnb", "tests", "params", "pyproject.toml")  # what the tests read
KILLED = {"killed", "timeout"}
SHOWN = 40  # survivors printed with their mutated line
MUTMUT = str(Path(sys.executable).with_name("mutmut"))  # beside the python running this, in .venv/bin


def dotted(module: str) -> str:
    """``ecgnb/threshold.py`` -> ``ecgnb.threshold``, the start of its mutants' names."""
    return module.removesuffix(".py").replace("/", ".")


def mutant_globs(module: str, functions: tuple[str, ...] | None) -> list[str]:
    """mutmut's names for the mutants of ``functions`` in ``module`` (a method is ``Class.method``)."""
    dotted_name = dotted(module)
    if functions is None:
        return [f"{dotted_name}.*"]
    return [f"{dotted_name}.x{'ǁ'.join([''] + f.split('.'))}__mutmut_*" if "." in f
            else f"{dotted_name}.x_{f}__mutmut_*" for f in functions]


def prepare(modules: dict[str, tuple[str, ...] | None] = MODULES) -> None:
    """A fresh copy of the project in WORK whose pyproject.toml tells mutmut what to mutate and test."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    for name in COPIED:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, WORK / name)
    settings = {"source_paths": ["ecgnb"], "only_mutate": list(modules), "also_copy": ["params"],
                "pytest_add_cli_args": ["-p", "no:cacheprovider"], "pytest_add_cli_args_test_selection": list(TESTS)}
    with (WORK / "pyproject.toml").open("a") as f:
        f.write("\n[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))


def run_mutmut(globs: list[str], log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "HYPOTHESIS_PROFILE": "mutation"}
    # the tests look for the data beside the clone (release_data.LOCAL), but mutmut runs them from WORK/mutants
    env.setdefault("ECGNB_DATA", str(release_data.LOCAL))
    with log.open("w") as out:
        done = subprocess.run([MUTMUT, "run", *globs], cwd=WORK, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        print("".join(log.read_text().splitlines(keepends=True)[-30:]))
        sys.exit(f"mutation: mutmut run failed (exit {done.returncode}); the whole output is in {log}")


def statuses(modules: dict[str, tuple[str, ...] | None] = MODULES) -> dict[str, dict[str, str]]:
    """Per module: mutant name -> mutmut's status (killed, survived, timeout, no tests, ...)."""
    from mutmut.stats import status_by_exit_code

    out = {}
    for module, functions in modules.items():
        codes = json.loads((WORK / "mutants" / f"{module}.meta").read_text())["exit_code_by_key"]
        out[module] = {}
        for pattern in mutant_globs(module, functions):
            matched = {k: status_by_exit_code[v] for k, v in codes.items() if fnmatch.fnmatch(k, pattern)}
            if not matched:
                sys.exit(f"mutation: no mutants match {pattern}; fix MODULES in {Path(__file__).relative_to(ROOT)}")
            out[module].update(matched)
    return out


@functools.cache
def mutated_lines(name: str) -> str:
    """The changed lines of a mutant (the ``+`` lines of ``mutmut show``), stripped and joined."""
    diff = subprocess.run([MUTMUT, "show", name], cwd=WORK, check=True, capture_output=True, text=True).stdout
    return " ".join(line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))


def read_equivalent(path: Path = EQUIVALENT) -> dict[str, tuple[str, str]]:
    """``name | mutated line | reason`` per line (``#`` starts a comment) -> {name: (mutated line, reason)}.

    The mutated line may itself hold `` | ``; the name is what comes before the first, the reason after the last.
    """
    entries = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            name, _, rest = line.partition(" | ")
            mutated, _, reason = rest.rpartition(" | ")
            if not (name.strip() and mutated.strip() and reason.strip()):
                sys.exit(f"{path}:{number}: expected 'mutant name | mutated line | reason', got {line!r}")
            entries[name.strip()] = (mutated.strip(), reason.strip())
    return entries


def report(results: dict[str, dict[str, str]], equivalent: dict[str, tuple[str, str]], fail_under: float) -> bool:
    """Print the table and the survivors; True when every module reaches ``fail_under`` and no entry is stale."""
    ok, rows, lines = True, [], []
    for module, status in results.items():
        survivors = sorted((k for k, s in status.items() if s not in KILLED), key=_natural)
        explained = [name for name in survivors if name in equivalent and mutated_lines(name) == equivalent[name][0]]
        for name in (n for n in survivors if n not in explained):
            # `mutmut show` takes about a second: the mutated line of the first SHOWN survivors only
            changed = mutated_lines(name) if len(lines) < SHOWN else "(mutmut show NAME)"
            lines.append(f"  {status[name]}: {name}\n      + {changed}")
        killed = sum(s in KILLED for s in status.values())
        score = 100 * (killed + len(explained)) / len(status) if status else 100.0
        ok &= score >= fail_under
        rows.append(f"{module:<24} {len(status):>7} {killed:>7} {len(explained):>11} "
                    f"{len(survivors) - len(explained):>9} {score:>7.1f} %")
    stale = [name for name in equivalent if not any(
        name in status and status[name] not in KILLED and mutated_lines(name) == equivalent[name][0]
        for status in results.values())]
    print(f"{'module':<24} {'mutants':>7} {'killed':>7} {'equivalent':>11} {'survived':>9} {'score':>9}")
    print("\n".join(rows))
    if lines:
        print("\nsurvivors (`cd build/mutation && mutmut show NAME` prints the diff):")
        print("\n".join(lines))
    if stale:
        print(f"\n{EQUIVALENT.relative_to(ROOT)}: stale entries (killed, gone or changed; remove or update them):")
        print("\n".join(f"  {name}" for name in stale))
    return ok and not stale


def _natural(name: str) -> tuple[str, int]:
    head, _, number = name.rpartition("_")
    return head, int(number) if number.isdigit() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail-under", type=float, default=95.0, help="lowest score per module, in percent")
    parser.add_argument("--module", action="append", choices=list(MODULES), metavar="PATH",
                        help="mutate only this module of MODULES (repeatable; default: all of them)")
    args = parser.parse_args(argv)
    modules = {m: MODULES[m] for m in args.module} if args.module else MODULES
    prefixes = tuple(dotted(m) + "." for m in modules)
    equivalent = {name: entry for name, entry in read_equivalent().items() if name.startswith(prefixes)}
    start = time.monotonic()
    prepare(modules)
    run_mutmut([g for module, functions in modules.items() for g in mutant_globs(module, functions)],
               WORK / "mutmut.log")
    ok = report(statuses(modules), equivalent, args.fail_under)
    verdict = (f"every module at or above {args.fail_under:g} % and no stale entry" if ok else
               f"FAILED: a module below {args.fail_under:g} % or a stale entry, above")
    print(f"\nmutation: {time.monotonic() - start:.0f} s; {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
