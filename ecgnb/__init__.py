"""ecgnb: detect abnormal heartbeats in ECG5000 with an LSTM autoencoder.

Modules, one job each (docs/design.md maps them): config, data, model, train, score, threshold,
metrics, plots, runs (run folders), report (the notebooks into a run folder), pages (report pages),
grid, cluster, sweep and study_table (studies), recording, heartbeats, synthetic and recording_plots
(a continuous recording to flagged beats), and cli. Notebooks import them by name.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``from ecgnb import Detector`` without importing torch for every other module of the package."""
    if name == "Detector":
        from ecgnb.detector import Detector

        return Detector
    raise AttributeError(f"module 'ecgnb' has no attribute {name!r}")
