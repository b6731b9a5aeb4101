"""The one exception type the command turns into a one-line message and a non-zero exit, and that line."""

from __future__ import annotations


class EcgnbError(Exception):
    """Bad input or state that the user can fix; the message says what and how."""


def one_line(text: object) -> str:
    """``text`` (a message, an exception) on one line: its whitespace runs as single spaces; an exception
    without a message by its type's name."""
    flat = " ".join(str(text).split())
    return flat or (type(text).__name__ if isinstance(text, BaseException) else "")
