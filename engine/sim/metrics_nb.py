"""Performance metrics as streaming accumulators, shared by the fused sweep kernel and the vectorbt path
so both report the same numbers from the same formulas.

Annualization, one choice for sweep, walk-forward, replay and the tearsheet (research/stats.py says why):
`years` is the calendar span of the window, from the first bar's open to the last bar's close
(`window_years`), so gaps in the data count as time that passed. CAGR compounds over that span; ratios
scale by the OBSERVED bars per year, `periods = n / years` (n = bars in the window), which on data
without gaps is exactly the nominal 365-day count (8,760 for 1h) and on sparse data is what was seen.

Definitions follow QuantStats with that `periods` (tests pin the agreement):
sharpe = mean / std(ddof=1) * sqrt(periods); sortino = mean / sqrt(sum(r[r<0]^2) / n) * sqrt(periods);
cagr = (final / initial) ** (1 / years) - 1; max_drawdown from a baseline at the initial value;
calmar = cagr / |max_drawdown|. Returns are per bar, from the value at each bar's close.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.core.calendar import YEAR_MS

METRICS = ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "trades", "win_rate", "exposure")
N_ACC = 10
# accumulator slots
_N, _SUM, _SUM_SQ, _DOWN_SQ, _PEAK, _MAX_DD, _IN_MARKET, _TRADES, _CLOSED, _WINS = range(N_ACC)


@njit(cache=True, nogil=True)
def window_years_nb(first_ts_ms: int, last_ts_ms: int, bar_ms: int) -> float:
    """Calendar years from the first bar's open to the last bar's close: gaps count, rows do not."""
    return (last_ts_ms - first_ts_ms + bar_ms) / YEAR_MS


def window_years(ts_ms: np.ndarray, bar_ms: int) -> float:
    """`window_years_nb` of a window's open times (NaN for an empty window)."""
    return float(window_years_nb(int(ts_ms[0]), int(ts_ms[-1]), int(bar_ms))) if len(ts_ms) else float("nan")


@njit(cache=True, nogil=True)
def acc_start_nb(acc: np.ndarray, init_value: float) -> None:
    acc[:] = 0.0
    acc[_PEAK] = init_value


@njit(cache=True, nogil=True)
def acc_bar_nb(acc: np.ndarray, prev_value: float, value: float, in_market: bool) -> None:
    """One bar: its return (vectorbt's `get_return_nb`), sums for mean and variance, downside, drawdown.

    Plain sums are exact enough here: per-bar returns have mean^2 far below their variance, so the
    textbook cancellation of sum-of-squares does not arise (the QuantStats test pins 1e-9). The hot loop
    avoids divisions where it can: a flat bar's return is exactly zero, and the drawdown is only divided
    out when the value falls below the worst level seen so far."""
    if value == prev_value:
        r = 0.0
    elif prev_value == 0:
        r = np.inf * np.sign(value)
    else:
        r = (value - prev_value) / prev_value
        if prev_value < 0:
            r = -r
    acc[_N] += 1
    acc[_SUM] += r
    acc[_SUM_SQ] += r * r
    if r < 0:
        acc[_DOWN_SQ] += r * r
    if value > acc[_PEAK]:
        acc[_PEAK] = value
    elif value < acc[_PEAK] * (1.0 + acc[_MAX_DD]):
        acc[_MAX_DD] = value / acc[_PEAK] - 1.0
    if in_market:
        acc[_IN_MARKET] += 1


@njit(cache=True, nogil=True)
def acc_round_trip_nb(acc: np.ndarray, closed: bool, pnl: float) -> None:
    acc[_TRADES] += 1
    if closed:
        acc[_CLOSED] += 1
        if pnl > 0:
            acc[_WINS] += 1


@njit(cache=True, nogil=True)
def acc_finish_nb(acc: np.ndarray, init_value: float, final_value: float, years: float, out: np.ndarray) -> None:
    """Write the METRICS, in order, into `out`; `years` is the window's calendar span (`window_years`)."""
    n = acc[_N]
    total = final_value / init_value - 1.0
    out[0] = total
    out[1] = (final_value / init_value) ** (1.0 / years) - 1.0 if n > 0 and years > 0 and final_value >= 0 else np.nan
    periods = n / years if years > 0 else np.nan  # observed bars per year
    mean = acc[_SUM] / n if n > 0 else np.nan
    std = np.sqrt(max(acc[_SUM_SQ] - acc[_SUM] * acc[_SUM] / n, 0.0) / (n - 1)) if n > 1 else np.nan
    out[2] = mean / std * np.sqrt(periods) if std > 0 else np.nan
    downside = np.sqrt(acc[_DOWN_SQ] / n) if n > 0 else np.nan
    out[3] = mean / downside * np.sqrt(periods) if downside > 0 else np.nan
    out[5] = acc[_MAX_DD]
    out[4] = out[1] / abs(out[5]) if out[5] < 0 else np.nan
    out[6] = acc[_TRADES]
    out[7] = acc[_WINS] / acc[_CLOSED] if acc[_CLOSED] > 0 else np.nan
    out[8] = acc[_IN_MARKET] / n if n > 0 else np.nan


@njit(cache=True, nogil=True)
def metrics_from_values_nb(value: np.ndarray, position: np.ndarray, init_value: float, years: float,
                           trade_closed: np.ndarray, trade_pnl: np.ndarray) -> np.ndarray:
    """METRICS for one column of a finished simulation (the vectorbt path, replay); `years` as `window_years`."""
    acc = np.empty(N_ACC)
    acc_start_nb(acc, init_value)
    prev = init_value
    for i in range(value.shape[0]):
        acc_bar_nb(acc, prev, value[i], position[i] != 0)
        prev = value[i]
    for k in range(trade_pnl.shape[0]):
        acc_round_trip_nb(acc, trade_closed[k], trade_pnl[k])
    out = np.empty(len(METRICS))
    acc_finish_nb(acc, init_value, prev, years, out)
    return out
