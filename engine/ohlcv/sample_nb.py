"""The sequential part of the synthetic market: a GARCH(1,1) variance recursion with regime drift.

Each bar's variance depends on the previous bar's shock, and a range's pull depends on where the
price already is, so this is one loop; everything else in `sample.py` is vectorized NumPy.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def log_returns_nb(
    z: np.ndarray,
    drift: np.ndarray,
    pull_rate: np.ndarray,
    vol_mult: np.ndarray,
    segment_start: np.ndarray,
    garch: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Log return and its standard deviation per bar.

    `z` unit-variance shocks; `drift` per-bar log drift (trends); `pull_rate` the fraction of the
    distance to the segment's starting level recovered per bar (ranges, 0 elsewhere); `vol_mult` scales
    the GARCH volatility per regime; `segment_start` marks where a new regime's anchor level is taken.
    `garch` is (omega, alpha, beta) for the standardized variance h:
    h[t+1] = omega + alpha * h[t] * z[t]**2 + beta * h[t], started at its unconditional mean.
    """
    omega, alpha, beta = garch[0], garch[1], garch[2]
    n = len(z)
    r, sd = np.empty(n), np.empty(n)
    h = omega / (1.0 - alpha - beta)
    level, anchor = 0.0, 0.0
    for t in range(n):
        if segment_start[t]:
            anchor = level
        sd[t] = np.sqrt(h) * vol_mult[t]
        r[t] = drift[t] - pull_rate[t] * (level - anchor) + sd[t] * z[t]
        level += r[t]
        h = omega + alpha * h * z[t] * z[t] + beta * h
    return r, sd
