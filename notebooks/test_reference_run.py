"""After nbval has executed the committed notebooks into ``reports/lab/``: the same result as the reference run.

nbval compares the notebooks' facts exactly and leaves their float results (tagged
``nbval-ignore-output``) to this check: each result of the run against ``notebooks/reference.json``
within the tolerances of ``ecgnb/reference.py`` (docs/design.md, "Facts and results"). It sorts after
the notebooks, and ``tests/conftest.py`` keeps it on their worker, so it reads the run they just made.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgnb.runner import reference

RUN = Path(__file__).resolve().parents[1] / "reports" / "lab"


def test_the_notebooks_give_the_reference_result(request):
    if not request.config.getoption("nbval", default=False):
        pytest.skip("reads the run nbval's execution of the notebooks makes; run with --nbval")
    comparison = reference.compare(RUN)
    assert comparison.same, comparison.verdict()
