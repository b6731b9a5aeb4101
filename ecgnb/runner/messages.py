"""What the commands say: progress and errors on stderr (stdout is kept for tables), a user error as one
line ``error: …`` with exit code 2, Ctrl-C as exit code 130, and times as a clock shows them."""

from __future__ import annotations

import sys
from typing import Callable

from ecgnb.errors import EcgnbError, one_line


def say(message: str = "", end: str = "\n") -> None:
    """Progress and errors go to stderr; stdout is kept for tables."""
    print(message, end=end, file=sys.stderr, flush=True)


def guarded(command: Callable[[], int]) -> int:
    """A command's exit code: its own, 2 after a user error (said in one line ``error: …``), 130 on Ctrl-C."""
    try:
        return command()
    except EcgnbError as err:
        say(f"error: {one_line(err)}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130


def clock_time(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
