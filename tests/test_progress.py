"""ecgnb.progress: records written by the training kernel, read by the command, shown without a flood."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ecgnb import config, progress
from ecgnb.runner import messages, watch
from ecgnb.model import RecurrentAutoencoder
from ecgnb.train import fit


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def epoch_record(epoch: int, epochs: int, seconds: float, **extra) -> dict:
    return {"kind": "epoch", "epoch": epoch, "epochs": epochs, "batches": 10, "seconds": seconds,
            "train_loss": 30.0 - epoch, "val_l1": 20.0 - epoch, **extra}


# ---------------------------------------------------------------- writing


def test_reporter_without_a_file_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    reporter = progress.Reporter(3, 4)
    reporter.step(1)
    reporter.epoch({"epoch": 1, "train_loss": 1.0})
    assert reporter.path is None and list(tmp_path.iterdir()) == []


def test_reporter_writes_every_epoch_and_steps_at_most_every_few_seconds(tmp_path, monkeypatch):
    target = tmp_path / "progress.jsonl"
    monkeypatch.setenv(progress.ENV_VAR, str(target))
    clock = FakeClock()
    reporter = progress.Reporter(2, 100, clock=clock)
    for batch in range(1, 101):  # one batch a second: a step record at 5 s, 10 s, ...
        clock.now += 1.0
        reporter.step(batch)
    clock.now += 0.5
    reporter.epoch({"epoch": np.int64(1), "train_loss": np.float32(12.5), "val_l1": 11.25, "lr": 0.1, "best": True})
    clock.now += 0.5
    reporter.step(1)  # 0.5 s after the epoch record: none
    got = records(target)
    steps = [r for r in got if r["kind"] == "step"]
    assert [(r["epoch"], r["batch"]) for r in steps] == [(1, b) for b in range(5, 101, 5)]
    assert [r["seconds"] for r in steps] == [float(b) for b in range(5, 101, 5)]
    assert [r["done"] for r in steps[:2]] == [0.025, 0.05]  # 5 and 10 of 200 batches
    assert got[-1] == {"kind": "epoch", "epoch": 1, "done": 0.5, "train_loss": 12.5, "val_l1": 11.25, "best": True,
                       "epochs": 2, "batches": 100, "seconds": 100.5}


def test_members_side_by_side_share_one_count(tmp_path, monkeypatch):
    clock = FakeClock()
    reporter = progress.Reporter(2, 10, path=tmp_path / "p.jsonl", clock=clock, members=2)  # 2 members x 2 epochs
    clock.now += 5.0
    reporter.step(5)  # both members half-way through their first epoch: a quarter of the whole
    for member, epoch in ((0, 1), (1, 1), (1, 2), (0, 2)):
        clock.now += 2.5
        reporter.epoch({"member": member, "epoch": epoch, "train_loss": 1.0})
    got = records(tmp_path / "p.jsonl")
    assert (got[0]["epoch"], got[0]["done"]) == (1, 0.25)
    assert [(r["epoch"], r["member"], r["done"]) for r in got[1:]] == [(1, 0, 0.25), (1, 1, 0.5), (2, 1, 0.75),
                                                                       (2, 0, 1.0)]
    assert watch.describe(got[2]) == ("epoch 1/2 · member 1 · 0:10 elapsed, about 0:10 left · train 1.00")


def test_members_one_after_another_count_each_epoch_once(tmp_path):
    clock = FakeClock()
    reporter = progress.Reporter(2, 10, path=tmp_path / "p.jsonl", clock=clock, members=2, side_by_side=False)
    for _ in range(3):
        reporter.epoch({"epoch": 1, "train_loss": 1.0})  # member 0's two epochs, then member 1's first
    clock.now += 5.0
    reporter.step(5)  # member 1, half-way through its second epoch
    got = records(tmp_path / "p.jsonl")
    assert (got[-1]["epoch"], got[-1]["done"]) == (2, 0.875)


def test_reporter_that_cannot_write_turns_itself_off(tmp_path):
    reporter = progress.Reporter(1, 1, path=tmp_path / "no-such-folder" / "progress.jsonl")
    reporter.epoch({"epoch": 1, "train_loss": 1.0})  # no exception: training goes on
    assert reporter.path is None


@pytest.mark.parametrize("select_by, marked", [("val_l1", True), ("last", False)])
def test_best_so_far_only_when_training_keeps_its_best_epoch(tmp_path, select_by, marked):
    reporter = progress.Reporter(2, 1, path=tmp_path / "p.jsonl", keeps_best=select_by != "last")
    reporter.epoch({"epoch": 1, "train_loss": 1.0, "best": True})
    record, = records(tmp_path / "p.jsonl")
    assert ("best" in record) is marked and ("best so far" in watch.describe(record)) is marked


@pytest.mark.parametrize("select_by", ["val_l1", "last"])
def test_fit_reports_each_epoch(tmp_path, monkeypatch, select_by):
    target = tmp_path / "progress.jsonl"
    monkeypatch.setenv(progress.ENV_VAR, str(target))
    cfg = config.Config(embedding_dim=4, members=1, epochs=3, batch_size=8, lr=0.01, threshold_rule="fixed",
                        select_by=select_by)
    t = np.linspace(0, 2 * np.pi, 24, dtype=np.float32)
    beats = np.sin(t)[None] * np.linspace(0.5, 1.5, 40, dtype=np.float32)[:, None]
    history = fit(RecurrentAutoencoder(seq_len=24, embedding_dim=4), beats[:32], beats[32:], cfg, progress=False)
    got = [r for r in records(target) if r["kind"] == "epoch"]
    assert [(r["epoch"], r["epochs"], r["batches"]) for r in got] == [(1, 3, 4), (2, 3, 4), (3, 3, 4)]
    assert [r["val_l1"] for r in got] == pytest.approx(history["val_l1"].tolist())
    assert [r["train_loss"] for r in got] == pytest.approx(history["train_loss"].tolist())
    assert all(("best" in r) is (select_by != "last") for r in got)  # the last epoch is kept: no "best so far"


# ---------------------------------------------------------------- one line of text


def test_describe_an_epoch_with_the_time_left():
    # 3 of 10 epochs in 30 s: 10 s an epoch, 7 to go, 70 s left
    line = watch.describe(epoch_record(3, 10, 30.0, val_roc_auc=0.98765, best=True))
    assert line == ("epoch 3/10 · 0:30 elapsed, about 1:10 left · train 27.00 · val L1 17.00 · "
                    "val ROC-AUC 0.9877 · best so far")


def test_describe_a_step_inside_an_epoch():
    # epoch 2 of 4, batch 5 of 10: 1.5 epochs in 90 s, 2.5 to go, 150 s left
    line = watch.describe({"kind": "step", "epoch": 2, "epochs": 4, "batch": 5, "batches": 10, "seconds": 90})
    assert line == "epoch 2/4 · 1:30 elapsed, about 2:30 left · batch 5/10"
    assert messages.clock_time(3725) == "1:02:05"


# ---------------------------------------------------------------- showing


def test_plain_lines_at_most_every_few_seconds_and_always_the_last_epoch():
    out, clock = io.StringIO(), FakeClock()
    display = watch.Display(out, tty=False, opening="\n", clock=clock)
    for epoch in range(1, 21):  # an epoch a second
        display.show(epoch_record(epoch, 20, float(epoch)))
        clock.now += 1.0
    display.close()
    lines = out.getvalue().split("\n")
    assert lines[0] == ""  # the opening ends the caller's open line, once
    shown = [int(line.split()[1].split("/")[0]) for line in lines[1:] if line]
    assert shown == [1, 6, 11, 16, 20]
    assert all(line.startswith("  epoch ") for line in lines[1:] if line)


def test_plain_display_shows_the_newest_record_when_closed_early():
    out, clock = io.StringIO(), FakeClock()
    display = watch.Display(out, tty=False, clock=clock)
    display.show(epoch_record(1, 40, 1.0))
    clock.now += 1.0
    display.show(epoch_record(2, 40, 2.0))  # too soon: held back
    assert "epoch 2/40" not in out.getvalue()
    display.close()  # early stop (patience) or an interrupt: the last news is not lost
    assert out.getvalue().count("\n") == 2 and "epoch 2/40" in out.getvalue().splitlines()[-1]


def test_nothing_shown_writes_nothing():
    out = io.StringIO()
    display = watch.Display(out, tty=False, opening="\n")
    display.close()
    assert out.getvalue() == "" and not display.shown


def test_terminal_gets_one_redrawing_bar():
    out, clock = io.StringIO(), FakeClock()
    display = watch.Display(out, tty=True, opening="\n", clock=clock)
    for epoch in range(1, 5):
        display.show(epoch_record(epoch, 4, float(epoch)))
        clock.now += 0.1  # faster than REDRAW_EVERY: only the first and the last epoch are drawn
    display.close()
    text = out.getvalue()
    assert text.startswith("\n")
    assert text.count("\n") == 2  # the opening and the bar's own line when it closes: no line per epoch
    assert "\r" in text and "epoch 4/4" in text and "100%" in text
    assert "epoch 2/4" not in text and "epoch 3/4" not in text


# ---------------------------------------------------------------- reading what another process writes


FAKE_KERNEL = textwrap.dedent("""
    import json, sys, time
    path = sys.argv[1]
    def put(text):
        with open(path, "a") as out:
            out.write(text)
    for epoch in (1, 2, 3):
        line = json.dumps({"kind": "epoch", "epoch": epoch, "epochs": 3, "batches": 2, "seconds": epoch,
                           "train_loss": 9.0, "val_l1": 8.0}) + "\\n"
        put(line[:10])  # half a line first: the reader must wait for the rest
        time.sleep(0.15)
        put(line[10:])
        time.sleep(0.1)
    put("not json\\n")
""")


def test_following_a_fake_kernel_shows_each_record_once(tmp_path):
    target = tmp_path / "progress.jsonl"
    target.write_text(json.dumps(epoch_record(9, 9, 1.0)) + "\n")  # an earlier notebook's: not shown again
    seen: list[dict] = []

    class Collect(watch.Display):
        def show(self, record):
            seen.append(record)

    with watch.following(target, Collect(io.StringIO(), tty=False), poll=0.05):
        subprocess.run([sys.executable, "-c", FAKE_KERNEL, str(target)], check=True, timeout=60)
    assert [r["epoch"] for r in seen] == [1, 2, 3]
    assert all(r["epochs"] == 3 for r in seen)


def test_following_a_file_that_never_appears(tmp_path):
    out = io.StringIO()
    with watch.following(tmp_path / "none.jsonl", watch.Display(out, tty=False), poll=0.01):
        pass
    assert out.getvalue() == ""
