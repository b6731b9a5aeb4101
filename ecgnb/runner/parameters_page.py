"""docs/parameters.md, generated from ecgnb/config.py: every parameter with its type, default, choices
and meaning (the comment beside its field), so the page cannot drift from the code.

    python -m ecgnb.runner.parameters_page            # rewrite docs/parameters.md
    python -m ecgnb.runner.parameters_page --check    # exit 1 when the committed page differs
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from ecgnb import config
from ecgnb.config import Config
from ecgnb.paramdoc import field_comments

PAGE = Path(__file__).resolve().parents[2] / "docs" / "parameters.md"
CHOICES = {name: getattr(config, name) for name in ("DEVICES", "LSTM_INITS", "LR_SCHEDULES", "SELECT_BY", "LOSSES",
                                                     "THRESHOLD_RULES")}
HEADER = """\
# Parameters

For anyone writing a params file or a `-p key value` override. This page is generated from
`ecgnb/config.py` by `python -m ecgnb.runner.parameters_page`; a test fails when the two disagree.

Precedence is papermill's: the defaults below, then each `-f` file in order, then each `-p`. The
whole configuration is validated before any notebook starts: an unknown key, a wrong type or an
out-of-range value is a one-line error naming the key, and exit code 2.

Profiles: `params/default.yaml` (the default report, these defaults), `params/tutorial.yaml` (the
tutorial exactly: E=128, batch 1, constant 1e-3, 150 epochs, fixed threshold 26; over two hours on
2 cores), `params/smoke.yaml` (tiny, for CLI tests and quick looks).
"""
FOOTER = """
## Notes

- `members` train side by side on a CPU, each on its share of the cores (one thread at least); on a
  GPU one after another.
- `bf16` is checked up front: a CPU without AVX-512 BF16 or AMX stops with a one-line error.
- `checkpoint` must match the run's seed, `embedding_dim` and data.
- `select_by`: `last` keeps the end of the schedule, `val_roc_auc` the epoch whose scores best split
  validation normals from validation anomalies, `val_l1` the lowest validation normals' loss (the
  tutorial's). `patience` needs one of the last two.
- `score_sigma`: the anomaly score low-passes the reconstruction error with a Gaussian of this many
  samples before summing its absolute value; 0 is the tutorial's plain L1 sum.
- The evaluation protocol (which beats choose what): [design.md](design.md#evaluation-protocol).
"""



def shown(value: object) -> str:
    """A default as YAML writes it."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def page() -> str:
    """The whole markdown page."""
    comments = field_comments(Path(config.__file__).read_text())
    defaults = Config().to_dict()
    lines = [HEADER]
    section = None
    for f in fields(Config):
        where, meaning = comments.get(f.name, ("", ""))
        if where != section:
            section = where
            lines += [f"\n## {where.capitalize() or 'Other'}\n", "| key | type | default | meaning |",
                      "|---|---|---|---|"]
        choices = next((c for c in CHOICES.values() if defaults[f.name] in c and isinstance(defaults[f.name], str)),
                       None)
        listed = f"one of: {', '.join(f'`{c}`' for c in choices)}" if choices else ""
        if meaning.startswith("one of "):  # the comment names the tuple; the page lists it
            meaning, listed = "", listed.replace("one of: ", "")
        text = "; ".join(part for part in (meaning, listed) if part)
        kind = str(f.type).replace("None", "null").replace(" | ", " or ")
        lines.append(f"| `{f.name}` | {kind} | {shown(defaults[f.name])} | {text} |")
    return "\n".join(lines) + "\n" + FOOTER


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if PAGE.read_text() != page():
            print(f"{PAGE}: out of date; run python -m ecgnb.runner.parameters_page", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page())
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
