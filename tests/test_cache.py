"""ecgnb.reuse: a notebook's key follows exactly its inputs; entries are stored whole and copied back."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from ecgnb import config, data, runs
from ecgnb.runner import cache
from ecgnb.config import Config

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def run_folder(tmp_path: Path) -> Path:
    """A run folder holding every file a notebook may read."""
    run_dir = tmp_path / "run"
    (run_dir / runs.FIGURES).mkdir(parents=True)
    for name in (runs.DATA_INFO, runs.THRESHOLD):
        runs.write_json(run_dir / name, {"value": 1})
    for name in (runs.CHECKPOINT, runs.HISTORY, runs.LOSSES, runs.METRICS):
        (run_dir / name).write_bytes(b"1")
    np.savez(run_dir / runs.SPLIT, train=np.zeros((2, 3), np.float32))
    return run_dir


def key(nb: str, run_dir: Path, cfg: Config = Config(), **parameters) -> str:
    return cache.key(NOTEBOOKS / f"{nb}.ipynb", {"run_dir": ".", **parameters}, cfg, run_dir)


@pytest.mark.parametrize("nb", runs.NOTEBOOKS)
def test_a_notebook_s_key_changes_with_each_file_it_reads_and_no_other(tmp_path, nb):
    run_dir = run_folder(tmp_path)
    before = key(nb, run_dir)
    for name in (runs.DATA_INFO, runs.SPLIT, runs.CHECKPOINT, runs.HISTORY, runs.LOSSES, runs.THRESHOLD,
                 runs.METRICS):
        original = (run_dir / name).read_bytes()
        if name == runs.SPLIT:
            np.savez(run_dir / name, train=np.ones((2, 3), np.float32))
        else:
            (run_dir / name).write_bytes(original + b" ")
        assert (key(nb, run_dir) != before) == (name in cache.READS[nb]), name
        (run_dir / name).write_bytes(original)
    assert key(nb, run_dir) == before


def test_the_parameters_in_the_key_are_those_the_notebook_uses(tmp_path):
    run_dir = run_folder(tmp_path)
    other_rule = Config(threshold_rule="val_best_f1")
    other_training = Config(epochs=5)
    for nb in runs.NOTEBOOKS:
        assert (key(nb, run_dir, other_rule) != key(nb, run_dir)) == (nb in ("03_threshold", "04_evaluate")), nb
        assert (key(nb, run_dir, other_training) != key(nb, run_dir)) == (nb != "01_explore"), nb
        assert key(nb, run_dir, Config(seed=7)) != key(nb, run_dir), nb  # the seed decides the split
    assert key("01_explore", run_dir, params_file="a.yaml") != key("01_explore", run_dir)


def test_the_data_handed_to_the_kernels_is_in_01_s_key(tmp_path, monkeypatch):
    run_dir = run_folder(tmp_path)
    beats = tmp_path / "beats.csv"
    beats.write_text("label,t0\n1,0.5\n")
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    default = key("01_explore", run_dir)
    monkeypatch.setenv(data.ENV_VAR, str(beats))
    given = key("01_explore", run_dir)
    beats.write_text("label,t0\n1,0.6\n")
    assert len({default, given, key("01_explore", run_dir)}) == 3
    assert key("02_train", run_dir) == key("02_train", run_dir)


def test_an_npz_is_keyed_by_its_arrays_not_by_when_it_was_written(tmp_path, monkeypatch):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.arange(3))
    first = cache.file_digest(path)
    monkeypatch.setattr("time.localtime", lambda *_: (2001, 2, 3, 4, 5, 6, 0, 0, 0))  # zip entries record the time
    np.savez(path, x=np.arange(3))
    assert cache.file_digest(path) == first
    np.savez(path, x=np.arange(4))
    assert cache.file_digest(path) != first
    assert cache.file_digest(tmp_path / "none") == "missing"


def test_every_notebook_reads_only_what_its_entry_says():
    """Each run-folder file a notebook's code names is one it reads (READS) or one it writes."""
    writes = {"01_explore": {"SPLIT", "DATA_INFO"}, "02_train": {"CHECKPOINT", "HISTORY", "LOSSES"},
              "03_threshold": {"THRESHOLD"}, "04_evaluate": {"METRICS"}, "05_visualize": set()}
    names = {getattr(runs, n): n for n in ("DATA_INFO", "SPLIT", "CHECKPOINT", "HISTORY", "LOSSES", "THRESHOLD",
                                            "METRICS")}
    for nb in runs.NOTEBOOKS:
        code = "\n".join(c.source for c in nbformat.read(NOTEBOOKS / f"{nb}.ipynb", 4).cells if c.cell_type == "code")
        named = {n for n in names.values() if f"runs.{n}" in code}
        named |= {n for call, n in (("run.split()", "SPLIT"), ("run.save_split(", "SPLIT"), ("run.data_info()", "DATA_INFO"))
                  if call in code}
        assert named <= {names[f] for f in cache.READS[nb]} | writes[nb], nb
        ignored = cache.IGNORES.get(nb, ())
        assert not [k for k in ignored if f"cfg.{k}" in code], nb
        if "threshold_rule" in ignored:  # nor the threshold's file, nor every parameter at once
            assert "runs.THRESHOLD" not in code and "cfg.to_dict()" not in code, nb

def test_store_then_restore_copies_what_the_notebook_wrote(tmp_path):
    run_dir = run_folder(tmp_path)
    before = cache.outputs(run_dir)
    (run_dir / "02_train.html").write_text("<html>")
    (run_dir / runs.FIGURES / "history.png").write_bytes(b"png")
    (run_dir / runs.PROGRESS).write_text("{}\n")  # the pipeline's own file: never part of an entry
    cache.store("k" * 64, run_dir, before)
    entry = cache.folder() / ("k" * 64)
    assert json.loads((entry / cache.ENTRY_INFO).read_text())["files"] == ["02_train.html", "figures/history.png"]
    other = tmp_path / "other"
    other.mkdir()
    assert cache.restore("k" * 64, other)
    assert (other / "02_train.html").read_text() == "<html>" and (other / "figures/history.png").read_bytes() == b"png"
    assert not (other / runs.PROGRESS).exists()
    assert not cache.restore("n" * 64, other)  # no entry
    (entry / "02_train.html").unlink()
    assert not cache.restore("k" * 64, tmp_path / "third")  # a damaged entry is no entry


def test_every_parameter_is_data_training_threshold_or_recording():
    """01_explore's key leaves out every parameter but the data's: a new parameter must say which it is."""
    from dataclasses import fields

    groups = set(config.DATA_KEYS) | set(config.TRAINING_KEYS) | set(config.THRESHOLD_KEYS) | set(config.RECORDING_KEYS)
    assert groups == {f.name for f in fields(Config)}
