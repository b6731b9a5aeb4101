"""A synthetic ECG recording with reference labels, for machines without a real one (06_recording, tests).

Each beat is a sum of Gaussian waves (P, Q, R, S, T) on a rhythm of about 72 beats per minute with a
little variation, baseline wander and noise. As in MIT-BIH record 100, a few beats are atrial
premature (``A``: the normal shape, 30 % early) and one is ventricular (``V``: early, no P wave, a wide
tall QRS, then a full compensatory pause). Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np

from ecgnb.recording import Recording

# (offset from the R peak in s, width in s, amplitude in mV) of each wave
NORMAL = ((-0.20, 0.025, 0.15), (-0.03, 0.010, -0.10), (0.0, 0.012, 1.0), (0.03, 0.010, -0.25), (0.25, 0.045, 0.30))
VENTRICULAR = ((-0.03, 0.015, -0.30), (0.01, 0.022, 1.5), (0.07, 0.025, -0.70), (0.30, 0.060, -0.40))
RR_S = 0.83  # mean RR interval (72 per minute)
A_EVERY = 23  # one atrial premature beat in this many
PREMATURE = 0.70  # an early beat comes after this share of the usual interval


def recording(seconds: float = 180.0, fs: float = 360.0, seed: int = 0) -> Recording:
    """A ``seconds``-long one-lead recording at ``fs`` Hz with its reference beats (N, A and one V)."""
    rng = np.random.default_rng(seed)
    times, symbols = _rhythm(seconds, rng)
    t = np.arange(int(seconds * fs)) / fs
    signal = 0.08 * np.sin(2 * np.pi * 0.25 * t) + 0.02 * rng.standard_normal(len(t))
    for at, symbol in zip(times, symbols):
        for offset, width, amplitude in VENTRICULAR if symbol == "V" else NORMAL:
            centre = at + offset
            near = slice(max(0, int((centre - 5 * width) * fs)), int((centre + 5 * width) * fs) + 1)
            signal[near] += amplitude * np.exp(-0.5 * ((t[near] - centre) / width) ** 2)
    return Recording(f"synthetic (seed {seed})", signal, fs, "synthetic", ("synthetic",),
                     np.round(np.asarray(times) * fs).astype(np.int64), np.asarray(symbols))


def _rhythm(seconds: float, rng: np.random.Generator) -> tuple[list[float], list[str]]:
    """Beat times and symbols: normal intervals of RR_S ± 3 %, an A every A_EVERY beats, one V midway."""
    times, symbols = [0.5], ["N"]
    v_at = int(seconds / RR_S / 2) + A_EVERY // 2
    while times[-1] < seconds - 1.5:
        n = len(times)
        rr = RR_S * (1 + 0.03 * rng.standard_normal())
        symbol = "V" if n == v_at else "A" if n % A_EVERY == 0 else "N"
        after_v = symbols[-1] == "V"
        step = PREMATURE * rr if symbol != "N" else (2 - PREMATURE) * rr if after_v else rr
        times.append(times[-1] + step)
        symbols.append(symbol)
    return times, symbols
