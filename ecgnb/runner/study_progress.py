"""The progress lines of a study on Dask: one line per event on stderr, with the counts over its runs and
the time left (``ecgnb study``; the one-class benchmark counts its tasks the same way)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ecgnb.runner.messages import clock_time


@dataclass
class Progress:
    """Counts over the runs of a study and the time left, one line per event on stderr."""

    total: int
    slots: int
    say: Callable[[str], None]
    start: float = field(default_factory=time.perf_counter)
    running: dict[str, float] = field(default_factory=dict)  # name → when it started
    durations: list[float] = field(default_factory=list)  # of runs finished here
    done: int = 0
    failed: int = 0

    def started(self, name: str, where: str) -> None:
        self.running[name] = time.perf_counter()
        self.event(f"start  {name} on {where}")

    def requeued(self, name: str) -> None:
        self.running.pop(name)
        self.event(f"retry  {name}: its worker died; it runs again on the next free worker")

    def finished(self, name: str, ok: bool, seconds: float | None, detail: str) -> None:
        self.running.pop(name, None)
        self.done += ok
        self.failed += not ok
        if seconds is not None:
            self.durations.append(seconds)
        self.event(f"{'done  ' if ok else 'FAILED'} {name}{detail}")

    def event(self, what: str) -> None:
        elapsed = time.perf_counter() - self.start
        waiting = self.total - self.done - self.failed - len(self.running)
        counts = f"{self.done} done · {len(self.running)} running · {self.failed} failed · {waiting} waiting"
        self.say(f"[{clock_time(elapsed)}] {what}  ({counts}{self.time_left(waiting)})")

    def time_left(self, waiting: int) -> str:
        """Mean run time so far × the work left, spread over the slots; unknown before a run ends."""
        if not self.durations or not (waiting or self.running):
            return ""
        mean = sum(self.durations) / len(self.durations)
        now = time.perf_counter()
        left = waiting * mean + sum(max(0.0, mean - (now - t)) for t in self.running.values())
        return f" · about {clock_time(left / self.slots)} left"
