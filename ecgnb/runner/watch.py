"""Training progress shown while a notebook trains: the kernel's records (:mod:`ecgnb.progress`) read as
they are appended, in a background thread of the command, and shown by a :class:`Display`: a redrawing
tqdm bar on a terminal, else plain lines at most every :data:`PLAIN_EVERY` seconds (plus the first and
the last).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping

from ecgnb.runner.messages import clock_time

PLAIN_EVERY = 5.0  # seconds between plain lines (no terminal)
REDRAW_EVERY = 0.5  # seconds between redraws of the terminal bar
POLL_EVERY = 0.5  # seconds between reads of the file
FALLBACK_SIZE = (100, 24)  # columns and rows for a terminal that does not say (a pseudo-terminal of size 0)



@contextmanager
def following(path: str | Path, display: "Display", poll: float = POLL_EVERY) -> Iterator["Display"]:
    """While the body runs, show each record appended to ``path`` (from its size now on); then close."""
    path = Path(path)
    offset = path.stat().st_size if path.is_file() else 0
    stop = threading.Event()
    thread = threading.Thread(target=_follow, args=(path, offset, display.show, stop, poll), daemon=True)
    thread.start()
    try:
        yield display
    finally:
        stop.set()
        thread.join()
        display.close()


def _follow(path: Path, offset: int, show: Callable[[dict[str, Any]], None], stop: threading.Event,
            poll: float) -> None:
    """Read complete new lines every ``poll`` seconds until ``stop``, then once more."""
    partial = b""
    while True:
        stopping = stop.wait(poll)
        try:
            with open(path, "rb") as source:
                source.seek(offset)
                chunk = source.read()
        except OSError:  # not written yet
            chunk = b""
        offset += len(chunk)
        *lines, partial = (partial + chunk).split(b"\n")
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and ({"epoch", "epochs", "seconds"} <= set(record)
):
                show(record)
        if stopping:
            return


def fraction_done(record: Mapping[str, Any]) -> float:
    """How much of the whole training is done (0 to 1), counting the finished part of the current epoch."""
    if "done" in record:
        return float(record["done"])
    if record.get("kind") == "epoch":
        return record["epoch"] / record["epochs"]
    return (record["epoch"] - 1 + record.get("batch", 0) / max(record.get("batches") or 1, 1)) / record["epochs"]


def describe(record: Mapping[str, Any]) -> str:
    """One line: epoch n/N, elapsed and remaining time, then losses (after an epoch) or the batch (inside one).
    The time comes first: a terminal too narrow for the line cuts its end."""
    seconds, done = record["seconds"], fraction_done(record)
    left = f", about {clock_time(seconds * (1 - done) / done)} left" if done > 0 else ""
    parts = [f"epoch {record['epoch']}/{record['epochs']}", f"member {record['member']}" if "member" in record else "",
             f"{clock_time(seconds)} elapsed{left}"]
    if record.get("kind") == "epoch":
        parts += [f"train {record['train_loss']:.2f}" if "train_loss" in record else "",
                  f"val L1 {record['val_l1']:.2f}" if "val_l1" in record else "",
                  f"val ROC-AUC {record['val_roc_auc']:.4f}" if "val_roc_auc" in record else "",
                  "best so far" if record.get("best") else ""]
    elif "batch" in record:
        parts.append(f"batch {record['batch']}/{record.get('batches', '?')}")
    return " · ".join(p for p in parts if p)


class Display:
    """Training progress on ``stream``: a tqdm bar when it is a terminal, else rate-limited plain lines.

    ``opening`` is written before the first output (``"\\n"`` ends a line the caller left open);
    ``shown`` says whether anything was written.
    """

    def __init__(self, stream: IO[str] | None = None, tty: bool | None = None, opening: str = "",
                 indent: str = "  ", clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.opening, self.indent, self.clock = opening, indent, clock
        self.every = REDRAW_EVERY if self.tty else PLAIN_EVERY
        self.shown, self.bar = False, None
        self.last_output = -float("inf")
        self.pending: dict[str, Any] | None = None  # the newest record not yet shown
        self.lock = threading.Lock()  # show() runs in the reading thread, close() in the caller's

    def show(self, record: Mapping[str, Any]) -> None:
        """Take one record; output it when the rate allows, or when it is the last epoch ."""
        with self.lock:
            self.pending = dict(record)
            last = record.get("kind") == "epoch" and fraction_done(record) >= 1
            if last or self.clock() - self.last_output >= self.every:
                self._output(self.pending)

    def close(self) -> None:
        """Show what is still pending (a run that stopped early) and release the bar."""
        with self.lock:
            if self.pending is not None:
                self._output(self.pending)
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    def _output(self, record: Mapping[str, Any]) -> None:
        self.pending = None
        if not self.shown:
            self.stream.write(self.opening)
            self.shown = True
        if self.tty:
            self._draw(record)
        else:
            self.stream.write(f"{self.indent}{describe(record)}\n")
            self.stream.flush()
        self.last_output = self.clock()

    def _draw(self, record: Mapping[str, Any]) -> None:
        from tqdm import tqdm

        if self.bar is None:
            # the line (bar, then the text) is cut to the terminal's width, so \r redraws one line
            sized = has_size(self.stream)  # else tqdm would cut the line to 0 columns and hide it below row 0
            self.bar = tqdm(total=100, file=self.stream, dynamic_ncols=sized, leave=True,
                            ncols=None if sized else FALLBACK_SIZE[0], nrows=None if sized else FALLBACK_SIZE[1],
                            bar_format=self.indent + "training {percentage:3.0f}%|{bar:16}| {desc}", mininterval=0)
        self.bar.n = round(100 * fraction_done(record), 1)
        self.bar.set_description_str(describe(record), refresh=False)
        self.bar.refresh()


def has_size(stream: IO[str]) -> bool:
    """Whether the terminal behind ``stream`` says how many columns and rows it has."""
    try:
        return all(os.get_terminal_size(stream.fileno()))
    except (AttributeError, OSError, ValueError):
        return False
