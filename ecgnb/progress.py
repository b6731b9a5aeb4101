"""Training progress written for whoever watches: one JSON line per epoch, and one every few seconds inside one.

papermill runs each notebook in a kernel, another process, so ``ecgnb run`` cannot watch
``train.fit`` directly. Instead the command names a file in the kernel's environment
(:data:`ENV_VAR`); :class:`Reporter`, called by ``fit``, appends one JSON line to it per
epoch and one every :data:`STEP_EVERY` seconds inside a long epoch (:mod:`ecgnb.runner.watch`
shows them). Without that variable (JupyterLab, the tests) nothing is written.

A record: ``{"kind": "step"|"epoch", "epoch": n, "epochs": N, "batch": b, "batches": B,
"done": fraction of the whole training, "seconds": s}``; an epoch record adds train_loss, val_l1,
val_roc_auc (when measured), best (when training keeps its best epoch) and, in an ensemble, member.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

ENV_VAR = "ECGNB_PROGRESS"  # the file the kernel appends to; unset: no records at all
STEP_EVERY = 5.0  # seconds between records inside one epoch
EPOCH_KEYS = ("member", "train_loss", "val_l1", "val_roc_auc", "best")  # copied from fit's history row


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


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (JSON)."""
    return value.item() if hasattr(value, "item") else value
