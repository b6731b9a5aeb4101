"""Live training progress, from the notebook kernel that trains to the command that waits for it.

papermill runs each notebook in a kernel, another process, so ``ecgnb run`` cannot watch
``train.fit`` directly. Instead the command names a file in the kernel's environment
(:data:`ENV_VAR`); :class:`Reporter`, called by ``fit``, appends one JSON line to it per
epoch and one every :data:`STEP_EVERY` seconds inside a long epoch; :func:`following` reads
the new lines in a background thread of the command and hands each record to a
:class:`Display`: a redrawing tqdm bar on a terminal, else plain lines at most every
:data:`PLAIN_EVERY` seconds (plus the first and the last).

A record: ``{"kind": "step"|"epoch", "epoch": n, "epochs": N, "batch": b, "batches": B,
"done": fraction of the whole training, "seconds": s}``; an epoch record adds train_loss, val_l1,
val_roc_auc (when measured), best (when training keeps its best epoch) and, in an ensemble, member. A ``{"kind": "note", "text": …}``
record is a line to print as it is (the model cache says what it did).
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

ENV_VAR = "ECGNB_PROGRESS"  # the file the kernel appends to; unset: no records at all
STEP_EVERY = 5.0  # seconds between records inside one epoch
PLAIN_EVERY = 5.0  # seconds between plain lines (no terminal)
REDRAW_EVERY = 0.5  # seconds between redraws of the terminal bar
POLL_EVERY = 0.5  # seconds between reads of the file
FALLBACK_SIZE = (100, 24)  # columns and rows for a terminal that does not say (a pseudo-terminal of size 0)
EPOCH_KEYS = ("member", "train_loss", "val_l1", "val_roc_auc", "best")  # copied from fit's history row


# ---------------------------------------------------------------- the kernel's side: writing


class Reporter:
    """Appends progress records to ``path`` (default: ``$ECGNB_PROGRESS``); does nothing without one.

    ``epochs`` is each member's number of epochs, ``batches`` the batches of one epoch, and
    ``members`` the models of an ensemble, trained ``side_by_side`` or one after another, which
    share one reporter: each record says how far the whole training is (``done``, 0 to 1). ``keeps_best``
    says whether training keeps its best epoch; when it keeps the last one (``select_by: last``) records
    carry no ``best``, so no line says "best so far". Never stops training: a file that cannot be
    written turns the reporter off.
    """

    def __init__(self, epochs: int, batches: int, path: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic, members: int = 1, side_by_side: bool = True,
                 keeps_best: bool = True) -> None:
        self.path = Path(path) if path else (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
        self.keys = EPOCH_KEYS if keeps_best else tuple(k for k in EPOCH_KEYS if k != "best")
        self.epochs, self.batches, self.members, self.clock = epochs, batches, members, clock
        self.running = members if side_by_side else 1  # members inside an epoch at once
        self.start = self.last = clock()
        self.done = 0  # member-epochs finished
        self.lock = threading.Lock()

    def step(self, batch: int) -> None:
        """Inside an epoch, after ``batch``: a record when :data:`STEP_EVERY` seconds passed since the last one."""
        if self.path is not None and self.clock() - self.last >= STEP_EVERY:
            with self.lock:
                # side by side, the members are each about this far into their epochs
                done = self.done + self.running * min(batch / self.batches, 1.0)
                self._write({"kind": "step", "epoch": self.done // self.running % self.epochs + 1, "batch": batch,
                             "done": round(done / (self.members * self.epochs), 4)})

    def epoch(self, row: Mapping[str, Any]) -> None:
        """After an epoch (``row``: fit's history row): always a record, with its losses."""
        if self.path is not None:
            with self.lock:
                self.done += 1
                self._write({"kind": "epoch", "epoch": int(row.get("epoch", self.done)),
                             "done": round(self.done / (self.members * self.epochs), 4),
                             **{k: _plain(row[k]) for k in self.keys if k in row}})

    def _write(self, record: dict[str, Any]) -> None:
        self.last = self.clock()
        record = {**record, "epochs": self.epochs, "batches": self.batches,
                  "seconds": round(self.last - self.start, 3)}
        try:
            with open(self.path, "a") as out:  # type: ignore[arg-type]
                out.write(json.dumps(record) + "\n")
        except OSError:
            self.path = None


def note(text: str, path: str | Path | None = None) -> None:
    """A line for the command to print as it is (``ecgnb run`` shows it between progress lines);
    nothing without a progress file, and never an error."""
    where = Path(path) if path else (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if where is not None:
        try:
            with open(where, "a") as out:
                out.write(json.dumps({"kind": "note", "text": str(text)}) + "\n")
        except OSError:
            pass


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (JSON)."""
    return value.item() if hasattr(value, "item") else value


# ---------------------------------------------------------------- the command's side: reading


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
                                             or (record.get("kind") == "note" and "text" in record)):
                show(record)
        if stopping:
            return


# ---------------------------------------------------------------- showing records


def clock_time(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


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
        """Take one record; output it when the rate allows, or when it is the last epoch (a note: at once)."""
        with self.lock:
            if record.get("kind") == "note":
                self._note(str(record["text"]))
                return
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

    def _note(self, text: str) -> None:
        if not self.shown:
            self.stream.write(self.opening)
            self.shown = True
        if self.bar is not None:
            self.bar.write(self.indent + text, file=self.stream)
        else:
            self.stream.write(f"{self.indent}{text}\n")
            self.stream.flush()

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
