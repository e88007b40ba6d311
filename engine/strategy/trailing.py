"""What the risk rules measure at a decision, from a trailing window only, so replay (which has the whole
history) and paper or live (which hold the last `warmup` candles) compute the same number from the same bars.

The ATR that sizes an entry (`Sizing(method="atr")`) is the mean true range of the last `SIZING_ATR_BARS`
bars; an exponential ATR would depend on every bar since the series began, and a runner started later would
size differently from the replay that validated it.
"""

from __future__ import annotations

import math

import numpy as np

SIZING_ATR_BARS = 14
SIZING_ATR_HISTORY = SIZING_ATR_BARS + 1  # one more bar: the first true range needs its previous close


def sizing_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> float:
    """The mean true range of the last `SIZING_ATR_BARS` bars of the given (trailing) arrays; nan when they
    hold fewer than `SIZING_ATR_HISTORY` bars."""
    if len(close) < SIZING_ATR_HISTORY:
        return math.nan
    h, lo, before = high[-SIZING_ATR_BARS:], low[-SIZING_ATR_BARS:], close[-SIZING_ATR_HISTORY:-1]
    ranges = np.maximum(h - lo, np.maximum(np.abs(h - before), np.abs(lo - before)))
    return float(ranges.sum() / SIZING_ATR_BARS)
