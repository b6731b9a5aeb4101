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
import torch  # noqa: E402

# The tests train tiny models in this process: one thread is the fastest there, and an OpenMP team
# of two cannot stall for seconds when another process holds a core (real runs are subprocesses,
# with the machine's own thread count).
torch.set_num_threads(1)

# The notebook CI always trains: nbval's kernels inherit this environment, so no model cache in it.
os.environ.pop("ECGNB_MODEL_CACHE", None)


@pytest.fixture(autouse=True)
def model_cache(tmp_path, monkeypatch):
    """Each test's own model cache: `ecgnb run` in a test never reads or fills the user's."""
    monkeypatch.setenv("ECGNB_MODEL_CACHE", str(tmp_path / "model-cache"))
    return tmp_path / "model-cache"
