"""Writing a file whole or not at all: readers see the old file or the whole new one, never a half.

    with atomic.replacing(path) as tmp:   # write anything to tmp (a file, or a folder); it becomes path
        np.savez(tmp, ...)
    atomic.write_text(path, text)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def replacing(target: str | Path) -> Iterator[Path]:
    """A temp path beside ``target`` (same folder, so the rename is atomic) that becomes ``target`` when the
    body ends without an error; removed, whatever was written there, when it fails."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_text(target: str | Path, text: str) -> None:
    """``text`` into ``target``, whole or not at all."""
    with replacing(target) as tmp:
        tmp.write_text(text)
