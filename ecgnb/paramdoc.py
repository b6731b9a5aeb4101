"""What each parameter means, read from the comment beside its field in ``ecgnb/config.py``: the table a
notebook shows of the parameters it uses (and docs/parameters.md, :mod:`ecgnb.runner.parameters_page`)."""

from __future__ import annotations

import io
import tokenize
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ecgnb import config
from ecgnb.config import Config

if TYPE_CHECKING:  # pandas: only where a notebook shows a table
    import pandas as pd

def field_comments(source: str) -> dict[str, tuple[str, str]]:
    """{field: (section, comment)} from the ``Config`` class body: ``name: type = default  # comment``
    lines, each under the last ``# section`` line above it."""
    comments: dict[str, tuple[str, str]] = {}
    names = {f.name for f in fields(Config)}
    section, in_class = "", False
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string == "Config" and tok.line.startswith("class Config"):
            in_class = True
        elif not in_class:
            continue
        elif tok.type == tokenize.COMMENT and tok.line.strip().startswith("#"):
            section = tok.string.lstrip("# ").strip()
        elif tok.type == tokenize.COMMENT:
            name = tok.line.split(":", 1)[0].strip()
            if name in names:
                comments[name] = (section, tok.string.lstrip("# ").strip())
        elif tok.type == tokenize.NAME and tok.string == "def":
            break
    return comments


def table(cfg: Config, keys: Sequence[str]) -> pd.DataFrame:
    """Each of ``keys``: its value in ``cfg`` and one line of meaning (the comment beside it in ``ecgnb/config.py``)."""
    import pandas as pd

    comments = field_comments(Path(config.__file__).read_text())
    return pd.DataFrame({"value": [str(getattr(cfg, k)) for k in keys],
                         "meaning": [comments.get(k, ("", ""))[1] for k in keys]}, index=list(keys))
