"""ecgnb: detect abnormal heartbeats in ECG5000 with an LSTM autoencoder.

Modules, one job each: config, data, model, train, score, threshold, metrics, plots,
runs (run folders, artifacts, index) and cli. Notebooks import them by name.
"""

__version__ = "0.1.0"
