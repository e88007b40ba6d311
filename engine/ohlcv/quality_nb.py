"""The per-row candle checks as one numba pass: every load runs them, so they must cost ~1 ms a year of 1m."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def row_flags_nb(ts_ms: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray,
                 step_ms: int, offset_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """(invalid, misaligned) masks: invalid = a non-finite value, a non-positive price, negative volume, or
    high/low not enclosing open and close; misaligned = an open time off the timeframe's grid."""
    n = len(ts_ms)
    invalid = np.zeros(n, dtype=np.bool_)
    misaligned = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        oi, hi, li, ci, vi = o[i], h[i], lo[i], c[i], v[i]
        finite = math.isfinite(oi) and math.isfinite(hi) and math.isfinite(li) and math.isfinite(ci) and math.isfinite(vi)
        if not finite or oi <= 0 or hi <= 0 or li <= 0 or ci <= 0 or vi < 0:
            invalid[i] = True
        elif hi < max(oi, ci) or li > min(oi, ci):
            invalid[i] = True
        if i > 0 and ts_ms[i] - ts_ms[i - 1] == step_ms:
            misaligned[i] = misaligned[i - 1]  # one step on from the row before: same alignment, no division
        else:
            misaligned[i] = (ts_ms[i] - offset_ms) % step_ms != 0
    return invalid, misaligned
