"""Indicator kernels that reproduce vectorbt's canonical ones to the bit, so gauntlet's built-in strategies
agree with vectorbt's own examples (`vbt.MA`, `vbt.RSI`, `vbt.ATR`, `ma_crossed_above`).

The arithmetic follows vectorbt 1.2's `generic.nb` and `indicators.nb` step for step (a running cumsum for
rolling means, pandas' ewma recursion with adjust=False, NaN counted out of windows): a different but
"equivalent" formula would round differently and flip crossings that sit on a tie. Written for gauntlet;
the tests compare every kernel with vectorbt on real candles.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def sma_nb(a: np.ndarray, window: int) -> np.ndarray:
    """Rolling mean over `window` values, NaN until the window is full of non-NaN values (vbt.MA)."""
    out = np.empty(a.shape[0], dtype=np.float64)
    cumsum_arr = np.zeros(a.shape[0], dtype=np.float64)
    nancnt_arr = np.zeros(a.shape[0], dtype=np.float64)
    cumsum, nancnt = 0.0, 0
    for i in range(a.shape[0]):
        if np.isnan(a[i]):
            nancnt += 1
        else:
            cumsum += a[i]
        nancnt_arr[i], cumsum_arr[i] = nancnt, cumsum
        if i < window:
            window_len, window_cumsum = i + 1 - nancnt, cumsum
        else:
            window_len = window - (nancnt - nancnt_arr[i - window])
            window_cumsum = cumsum - cumsum_arr[i - window]
        out[i] = np.nan if window_len < window else window_cumsum / window_len
    return out


@njit(cache=True, nogil=True)
def ema_nb(a: np.ndarray, span: int) -> np.ndarray:
    """Exponential mean with alpha = 2 / (span + 1), adjust=False, NaN for the first `span` observations
    (vbt.MA with ewm=True)."""
    n = a.shape[0]
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    alpha = 1.0 / (1.0 + (span - 1) / 2.0)
    old_wt_factor, new_wt = 1.0 - alpha, alpha
    weighted_avg = a[0]
    nobs = 1 if weighted_avg == weighted_avg else 0
    out[0] = weighted_avg if nobs >= span else np.nan
    old_wt = 1.0
    for i in range(1, n):
        cur = a[i]
        is_observation = cur == cur
        nobs += is_observation
        if weighted_avg == weighted_avg:
            old_wt *= old_wt_factor
            if is_observation:
                if weighted_avg != cur:
                    weighted_avg = ((old_wt * weighted_avg) + (new_wt * cur)) / (old_wt + new_wt)
                old_wt = 1.0
        elif is_observation:
            weighted_avg = cur
        out[i] = weighted_avg if nobs >= span else np.nan
    return out


@njit(cache=True, nogil=True)
def ma_nb(a: np.ndarray, window: int, ewm: bool) -> np.ndarray:
    return ema_nb(a, window) if ewm else sma_nb(a, window)


@njit(cache=True, nogil=True)
def rsi_nb(close: np.ndarray, window: int, ewm: bool) -> np.ndarray:
    """Relative strength index from the mean up and down moves (vbt.RSI; its default is ewm=False)."""
    n = close.shape[0]
    up = np.empty(n, dtype=np.float64)
    down = np.empty(n, dtype=np.float64)
    for i in range(n):
        delta = np.nan if i == 0 else close[i] - close[i - 1]
        up[i] = 0.0 if delta < 0 else delta
        down[i] = 0.0 if delta > 0 else abs(delta)
    rs = ma_nb(up, window, ewm) / ma_nb(down, window, ewm)
    return 100 - 100 / (1 + rs)


@njit(cache=True, nogil=True)
def true_range_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    tr = np.empty(high.shape[0], dtype=np.float64)
    for i in range(high.shape[0]):
        tr1 = high[i] - low[i]
        if i == 0:
            tr[i] = tr1
        else:
            tr[i] = max(tr1, abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
    return tr


@njit(cache=True, nogil=True)
def atr_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int, ewm: bool) -> np.ndarray:
    """Average true range (vbt.ATR; its default is ewm=True)."""
    return ma_nb(true_range_nb(high, low, close), window, ewm)


@njit(cache=True, nogil=True)
def rolling_max_nb(a: np.ndarray, window: int) -> np.ndarray:
    """Maximum of the last `window` values including the current one; NaN until the window is full."""
    out = np.full(a.shape[0], np.nan)
    for i in range(window - 1, a.shape[0]):
        out[i] = a[i - window + 1: i + 1].max()
    return out


@njit(cache=True, nogil=True)
def rolling_min_nb(a: np.ndarray, window: int) -> np.ndarray:
    """Minimum of the last `window` values: the maximum of the negated values, negated (exact)."""
    return -rolling_max_nb(-a, window)


@njit(cache=True, nogil=True)
def crossed_above_nb(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where `a` goes above `b` (vbt `crossed_above`, wait=0).

    vectorbt's rule, kept exactly: a bar counts when `a > b` after `a` was below `b` at some earlier bar
    since the last NaN, and a tie (`a == b`) restarts the count without forgetting that `a` was below.
    """
    out = np.zeros(a.shape[0], dtype=np.bool_)
    was_below, crossed_ago = False, -1
    for i in range(a.shape[0]):
        if np.isnan(a[i]) or np.isnan(b[i]):
            crossed_ago, was_below = -1, False
        elif a[i] > b[i]:
            if was_below:
                crossed_ago += 1
                out[i] = crossed_ago == 0
        elif a[i] == b[i]:
            crossed_ago = -1
        else:
            crossed_ago, was_below = -1, True
    return out


@njit(cache=True, nogil=True)
def crossed_above_value_nb(a: np.ndarray, level: float) -> np.ndarray:
    return crossed_above_nb(a, np.full(a.shape[0], level))


@njit(cache=True, nogil=True)
def crossed_below_value_nb(a: np.ndarray, level: float) -> np.ndarray:
    return crossed_above_nb(np.full(a.shape[0], level), a)
