"""The recording path measured on MIT-BIH record 100 against its reference annotations.

Beat finding (``wfdb.processing.compare_annotations``, 150 ms) on lead MLII at 360 Hz, on lead V5,
and on MLII resampled to 250 Hz; then the unsupervised flags on MLII (the detector trained on the
record's own beats, no label used): ROC-AUC of the combined score, shape alone and timing alone,
and how many A, V and N beats are flagged.

    python -m benchmarks.recording                      # ../shared/data/mitdb-100/100
    python -m benchmarks.recording --record PATH/100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from ecgnb import config, heartbeats, recording
from ecgnb.runs import repo_root

RECORD = "shared/data/mitdb-100/100"  # beside the clone: ../shared/...


def resampled(rec: recording.Recording, fs: float) -> recording.Recording:
    """``rec`` resampled to ``fs`` Hz, its reference beats moved with it (wfdb.processing)."""
    from wfdb import processing

    signal, _ = processing.resample_sig(rec.signal, rec.fs, fs)
    samples = processing.resample_ann(rec.ref_samples, rec.fs, fs)
    return dataclasses.replace(rec, signal=np.asarray(signal, dtype=np.float64), fs=float(fs),
                               ref_samples=np.asarray(samples, dtype=np.int64))


def finding(rec: recording.Recording) -> dict[str, float]:
    t0 = time.perf_counter()
    found = heartbeats.compare_with_reference(rec, heartbeats.find_peaks(rec))
    return {**found, "seconds": round(time.perf_counter() - t0, 2)}


def flags(rec: recording.Recording, cfg: config.Config) -> dict[str, float]:
    t0 = time.perf_counter()
    beats = heartbeats.cut(rec)
    det, trained = heartbeats.fit_detector(beats, cfg)
    table = heartbeats.flag(beats, heartbeats.shape_scores(beats, det, trained))
    counts = {f"{s} flagged": f"{int(table['flagged'][table['label'] == s].sum())} of "
                              f"{int((table['label'] == s).sum())}" for s in ("A", "V", "N")}
    return {"beats": len(table), **counts,
            **{f"roc_auc {name}": round(auc, 4) for name, auc in heartbeats.roc_auc_by_evidence(table).items()},
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", default=str(repo_root().parent / RECORD))
    args = parser.parse_args()
    mlii = recording.read(args.record)
    results = {"MLII 360 Hz": finding(mlii), "V5 360 Hz": finding(recording.read(args.record, lead="V5")),
               "MLII 250 Hz": finding(resampled(mlii, 250.0)), "flags MLII": flags(mlii, config.Config())}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
