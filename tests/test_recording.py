"""A recording to flagged beats: reading (WFDB, EDF, CSV, NPY), beat finding, the evidence, bad recordings.

MIT-BIH record 100 is used where ``../shared/data/mitdb-100`` has it; a synthetic recording otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgnb import config, heartbeats, recording, runs, synthetic
from ecgnb.runner import cli, cache
from ecgnb.config import ConfigError
from ecgnb.detector import Detector
from ecgnb.recording import RecordingError

REPO = Path(__file__).resolve().parents[1]
RECORD_100 = REPO.parent / "shared/data/mitdb-100/100"
needs_100 = pytest.mark.skipif(not RECORD_100.with_suffix(".dat").is_file(),
                               reason=f"MIT-BIH record 100 is not at {RECORD_100.parent} (the synthetic tests run)")
TINY = dict(members=1, embedding_dim=4, epochs=1, min_steps=30, batch_size=32)  # a detector trained in a second


@pytest.fixture(scope="module")
def synth() -> recording.Recording:
    return synthetic.recording(seconds=120.0)


def write_wfdb(folder: Path, rec: recording.Recording, name: str = "rec", leads: int = 2) -> Path:
    """``rec`` as a WFDB record (``leads`` copies of its lead, format 16) with its annotations."""
    import wfdb

    signal = np.repeat(rec.signal[:, None], leads, axis=1) * np.arange(1, leads + 1)
    wfdb.wrsamp(name, fs=rec.fs, units=["mV"] * leads, sig_name=["MLII", "V5"][:leads], p_signal=signal,
                fmt=["16"] * leads, write_dir=str(folder))
    wfdb.wrann(name, "atr", rec.ref_samples, list(rec.ref_symbols), write_dir=str(folder))
    return folder / name


# ---------------------------------------------------------------- reading


def test_a_wfdb_record_gives_its_lead_rate_and_beat_annotations(tmp_path, synth):
    path = write_wfdb(tmp_path, synth)
    rec = recording.read(path, lead="V5")
    assert (rec.lead, rec.leads, rec.fs) == ("V5", ("MLII", "V5"), synth.fs)
    np.testing.assert_allclose(rec.signal, 2 * synth.signal, atol=0.01)
    assert list(rec.ref_symbols) == list(synth.ref_symbols)
    assert recording.read(path).lead == "MLII"  # the first by default


def test_an_edf_file_reads_through_wfdb(tmp_path, synth):
    from wfdb.io.convert.edf import wfdb_to_edf

    wfdb_to_edf(str(write_wfdb(tmp_path, synth)), output_filename=str(tmp_path / "rec.edf"))
    names, samples, fs = recording._read_wfdb(tmp_path / "rec.edf")  # wfdb's writer pads the end with its minimum
    assert (names, fs) == (["MLII", "V5"], synth.fs)
    assert np.corrcoef(samples[: len(synth.signal), 1], synth.signal)[0, 1] > 0.99


def test_csv_with_lead_names_and_npy_samples_need_the_rate(tmp_path, synth):
    pd.DataFrame({"I": synth.signal, "II": -synth.signal}).to_csv(tmp_path / "rec.csv", index=False)
    rec = recording.read(tmp_path / "rec.csv", lead="II", fs=synth.fs)
    np.testing.assert_allclose(rec.signal, -synth.signal)
    np.save(tmp_path / "rec.npy", synth.signal)
    assert recording.read(tmp_path / "rec.npy", fs=synth.fs).leads == ("0",)
    with pytest.raises(RecordingError, match=r"rec\.npy: samples without a sampling rate; pass it with -p fs"):
        recording.read(tmp_path / "rec.npy")


# ---------------------------------------------------------------- bad recordings: one line, the file, what to do


def test_a_missing_signal_file(tmp_path, synth):
    path = write_wfdb(tmp_path, synth)
    (tmp_path / "rec.dat").unlink()
    with pytest.raises(RecordingError, match=r"rec: the signal file rec\.dat that rec\.hea names is missing"):
        recording.read(path)


def test_a_header_that_promises_more_samples_than_its_file_holds(tmp_path, synth):
    path = write_wfdb(tmp_path, synth)
    data = tmp_path / "rec.dat"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(RecordingError, match=r"rec\.dat: holds .* bytes but rec\.hea promises .* samples per lead"):
        recording.read(path)


def test_a_flat_lead(tmp_path):
    np.save(tmp_path / "flat.npy", np.full(36_000, 0.5))
    with pytest.raises(RecordingError, match=r"flat\.npy \(lead 0\): the lead is flat"):
        recording.read(tmp_path / "flat.npy", fs=360.0)


def test_a_saturated_lead(tmp_path, synth):
    np.save(tmp_path / "clipped.npy", np.clip(synth.signal, None, 0.1))
    with pytest.raises(RecordingError, match=r"clipped\.npy \(lead 0\): saturated \(\d+% of the samples"):
        recording.read(tmp_path / "clipped.npy", fs=synth.fs)


def test_a_rate_too_low_to_find_beats(tmp_path, synth):
    np.save(tmp_path / "slow.npy", synth.signal[::8])
    with pytest.raises(RecordingError, match=r"slow\.npy \(lead 0\): sampled at 45 Hz, too slow to find beats"):
        recording.read(tmp_path / "slow.npy", fs=synth.fs / 8)


def test_a_recording_shorter_than_a_few_beats(tmp_path, synth):
    np.save(tmp_path / "short.npy", synth.signal[: int(4 * synth.fs)])
    with pytest.raises(RecordingError, match=r"short\.npy \(lead 0\): 4\.0 s long, too short for a few beats"):
        recording.read(tmp_path / "short.npy", fs=synth.fs)


def test_a_lead_the_recording_does_not_have(tmp_path, synth):
    with pytest.raises(RecordingError, match=r"rec: no lead 'V1'; its leads are MLII, V5"):
        recording.read(write_wfdb(tmp_path, synth), lead="V1")


def test_bad_recordings_exit_2_before_anything_is_written(tmp_path, synth, capsys):
    np.save(tmp_path / "flat.npy", np.zeros(36_000))
    reports = tmp_path / "reports"
    code = cli.main(["run", "-p", "recording", str(tmp_path / "flat.npy"), "-p", "fs", "360", "--name", "flat",
                     "--reports", str(reports)])
    assert code == 2 and not reports.exists()
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "flat.npy (lead 0): the lead is flat" in err and "\n" not in err
    assert cli.main(["score", "anyrun", str(tmp_path / "flat.npy"), "--fs", "360", "-o", str(tmp_path / "out.csv"),
                     "--reports", str(reports)]) == 2
    assert not (tmp_path / "out.csv").exists()


def test_the_recording_parameters_are_checked():
    assert config.load([], {"recording": "x.csv", "fs": 250}).fs == 250.0
    for overrides, message in (({"fs": 250}, "'fs' is for a .csv or .npy recording only"),
                               ({"recording": "x.npy"}, "'fs' must be given for a .csv or .npy recording"),
                               ({"lead": "V5"}, "'lead' needs a recording"),
                               ({"recording": "x.npy", "fs": 0}, r"'fs' must be in \[1, 100000\] Hz")):
        with pytest.raises(ConfigError, match=message):
            config.load([], overrides)


# ---------------------------------------------------------------- beats and evidence


def test_beats_of_a_synthetic_recording_match_its_reference(synth):
    peaks = heartbeats.find_peaks(synth)
    found = heartbeats.compare_with_reference(synth, peaks)
    assert found["missed"] == 0 and found["extra"] == 0
    beats = heartbeats.cut(synth, peaks=peaks)
    assert beats.windows.shape == (len(beats.peaks), heartbeats.LENGTH)
    np.testing.assert_allclose(beats.windows.std(axis=1), 1.0, atol=1e-4)
    assert set(beats.labels) == {"N", "A", "V"}
    i = int(np.flatnonzero(beats.labels == "V")[0])
    assert beats.rr_prev[i] < 0.8 * beats.rr_local[i] < beats.rr_next[i]  # early, then a pause
    assert np.isnan(beats.rr_prev[0]) and np.isnan(beats.rr_next[-1])


def test_the_timing_alone_separates_premature_beats(synth):
    beats = heartbeats.cut(synth)
    z = heartbeats.robust_z(heartbeats.timing_score(beats))
    early = np.isin(beats.labels, ["A", "V"])
    assert z[early].min() > heartbeats.FLAG_Z > z[~early].max()


def test_the_table_flags_by_shape_or_timing_without_labels(synth):
    beats = heartbeats.cut(synth)
    det, trained = heartbeats.fit_detector(beats, config.Config(**TINY))
    assert not np.isin(beats.labels[trained], ["A", "V"]).any()  # their timing keeps them out of training
    table = heartbeats.flag(beats, heartbeats.shape_scores(beats, det, trained))
    assert list(table.columns) == list(heartbeats.COLUMNS)
    assert table["flagged"].equals(table["score"] > heartbeats.FLAG_Z)
    assert table["score"].equals(np.maximum(table["shape_score"], table["timing_score"]))
    early = table["label"].isin(["A", "V"])
    assert table["flagged"][early].all()
    assert set(table.loc[early, "flagged_by"]) <= {"timing", "both"}
    assert (table.loc[~table["flagged"], "flagged_by"] == "").all()


def test_a_robust_z_is_not_moved_by_a_few_outliers():
    values = np.r_[np.linspace(-1, 1, 101), [50.0, 80.0]]
    z = heartbeats.robust_z(values)
    assert abs(z[50]) < 0.05 and z[-1] > 50


def test_score_writes_the_table_for_a_new_recording_with_a_runs_detector(tmp_path, synth, capsys):
    run_dir = tmp_path / "reports" / "rec"
    runs.open_run(run_dir)
    beats = heartbeats.cut(synth)
    det, _ = heartbeats.fit_detector(beats, config.Config(**TINY))
    det.save(run_dir / runs.CHECKPOINT)
    path = write_wfdb(tmp_path, synthetic.recording(seconds=60.0, seed=1))
    out = tmp_path / "flags.csv"
    assert cli.main(["score", "rec", str(path), "--lead", "V5", "-o", str(out),
                     "--reports", str(tmp_path / "reports")]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == list(heartbeats.COLUMNS)
    assert table.loc[table["label"].isin(["A", "V"]), "flagged"].all()
    assert "beats flagged (shape or timing beyond robust z 6)" in capsys.readouterr().err


def test_a_changed_recording_changes_the_notebooks_key(tmp_path, synth):
    path = write_wfdb(tmp_path, synth)
    before = cache.recording_digest(path)
    (tmp_path / "rec.atr").write_bytes(b"other")
    assert cache.recording_digest(path) != before


def test_a_recording_run_executes_06_alone():
    assert runs.notebooks_for(config.Config(recording="x/100")) == (runs.RECORDING_NOTEBOOK,)
    assert runs.notebooks_for(config.Config()) == runs.NOTEBOOKS


# ---------------------------------------------------------------- MIT-BIH record 100


@needs_100
def test_record_100_beats_match_the_reference():
    rec = recording.read(RECORD_100)
    assert (rec.fs, rec.leads) == (360.0, ("MLII", "V5"))
    assert pd.Series(rec.ref_symbols).value_counts().to_dict() == {"N": 2239, "A": 33, "V": 1}
    found = heartbeats.compare_with_reference(rec, heartbeats.find_peaks(rec))
    assert found["missed"] <= 2 and found["extra"] <= 2


@needs_100
def test_record_100_on_the_other_lead_finds_its_beats():
    rec = recording.read(RECORD_100, lead="V5")
    found = heartbeats.compare_with_reference(rec, heartbeats.find_peaks(rec))
    assert found["sensitivity"] >= 0.995 and found["positive_predictivity"] >= 0.995


@needs_100
@pytest.mark.slow
def test_record_100_flags_every_a_and_v_beat_and_few_n_beats():
    from sklearn.metrics import roc_auc_score

    beats = heartbeats.cut(recording.read(RECORD_100))
    det, trained = heartbeats.fit_detector(beats, config.Config())
    table = heartbeats.flag(beats, heartbeats.shape_scores(beats, det, trained))
    abnormal = table["label"].isin(["A", "V"])
    assert table["flagged"][abnormal].sum() == 34
    assert table["flagged"][table["label"] == "N"].sum() <= 11
    assert roc_auc_score(abnormal, table["score"]) >= 0.99
    assert (table.loc[table["label"] == "V", "flagged_by"] != "timing").all()  # its shape flags the V beat


@pytest.mark.slow
def test_a_recording_run_renders_06_and_writes_beats_csv(tmp_path):
    source = RECORD_100 if RECORD_100.with_suffix(".dat").is_file() else write_wfdb(tmp_path, synthetic.recording())
    reports = tmp_path / "reports"
    assert cli.main(["run", "-p", "recording", str(source), "-p", "min_steps", "200", "--name", "rec",
                     "--reports", str(reports), "--no-cache"]) == 0
    run_dir = reports / "rec"
    table = pd.read_csv(run_dir / runs.BEATS, keep_default_na=False)
    assert list(table.columns[:4]) == ["time_s", "score", "flagged", "label"]
    assert (run_dir / f"{runs.RECORDING_NOTEBOOK}.html").is_file()
    assert not (run_dir / "01_explore.ipynb").exists()
    assert not Path(runs.reopen(run_dir).config.recording).is_absolute()  # relative to the run folder, as it travels
    assert Detector.load(run_dir).model_ is not None
