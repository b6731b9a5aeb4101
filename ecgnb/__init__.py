"""ecgnb: detect abnormal heartbeats with an LSTM autoencoder, the library the notebooks import.

The parameters (config, paramdoc), the data (data, ecg5000_files, ecg5000_verify, datasets,
beat_files) and its split (data), the run folder the notebooks hand their files through (runs,
atomic), the model (model), training (train, progress), the score (score, detector, detect),
thresholds (threshold), metrics, the k-NN baseline (baseline), figures (plots), recordings
(recording, heartbeats, synthetic, recording_plots), and the one error type (errors). What renders and serves the
notebooks lives in :mod:`ecgnb.runner`, which this library never imports.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``from ecgnb import Detector`` without importing torch for every other module of the package."""
    if name == "Detector":
        from ecgnb.detector import Detector

        return Detector
    raise AttributeError(f"module 'ecgnb' has no attribute {name!r}")
