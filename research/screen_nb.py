"""The fused sweep kernel for moving-average crossings: indicators computed once per window, then one pass
per combination that crosses, fills, values and scores in a single loop with no intermediate arrays.

It applies exactly the rules of vectorbt's `Portfolio.from_signals` for long-only, all-in orders
(`size=inf`): decide at the close of bar t, fill at the open of bar t+1 with slippage, buy with
cash / (1 + fee) of notional, sell the whole position, value at each close; the test suite proves the
two agree order for order and in equity to 1e-9 on real candles. vectorbt then re-runs the top
combinations for full `Portfolio` analytics.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.fills_nb import add_nb
from engine.indicators_nb import ma_nb
from engine.metrics_nb import METRICS, N_ACC, acc_bar_nb, acc_finish_nb, acc_round_trip_nb, acc_start_nb

@njit(cache=True, nogil=True)
def _cross_step_nb(x: float, y: float, was_below: bool, crossed_ago: int) -> tuple[bool, bool, int]:
    """One bar of vectorbt's `crossed_above` state machine: (fired, was_below, crossed_ago)."""
    if np.isnan(x) or np.isnan(y):
        return False, False, -1
    if x > y:
        if was_below:
            crossed_ago += 1
            return crossed_ago == 0, was_below, crossed_ago
        return False, was_below, crossed_ago
    if x == y:
        return False, was_below, -1
    return False, True, -1


@njit(cache=True, nogil=True)
def ma_cross_one_nb(open_: np.ndarray, close: np.ndarray, fast: np.ndarray, slow: np.ndarray, fee: float,
                    slippage: float, init_cash: float, years: float, trade_from: int, sample_idx: np.ndarray,
                    metrics_out: np.ndarray, samples_out: np.ndarray, orders_out: np.ndarray) -> int:
    """Simulate one (fast, slow) pair from bar `trade_from` on (earlier bars only warm the indicators and
    the crossing state; a decision made before it is not acted on): metrics into `metrics_out`, values at
    `sample_idx` (all >= trade_from) into `samples_out`, and the first fills as (bar, side +1/-1, qty, px,
    fee) rows into `orders_out` (pass a (0, 5) array to skip them). `years` is the calendar span of the bars
    from `trade_from` on (`engine.metrics_nb.window_years`). Returns the number of fills."""
    acc = np.empty(N_ACC)
    acc_start_nb(acc, init_cash)
    cash, pos, prev_value = init_cash, 0.0, init_cash
    entry_px, entry_fees = 0.0, 0.0
    up_below, up_ago, dn_below, dn_ago = False, -1, False, -1
    want_entry, want_exit = False, False
    k, n_orders = 0, 0
    for i in range(close.shape[0]):
        if i < trade_from:
            want_entry, up_below, up_ago = _cross_step_nb(fast[i], slow[i], up_below, up_ago)
            want_exit, dn_below, dn_ago = _cross_step_nb(slow[i], fast[i], dn_below, dn_ago)
            continue
        if i == trade_from:
            want_entry, want_exit = False, False
        if want_entry and pos == 0.0:
            entry_px = open_[i] * (1.0 + slippage)
            max_req_cash = cash / (1.0 + fee)
            pos = max_req_cash / entry_px
            entry_fees = cash - max_req_cash
            cash = add_nb(cash, -cash)
            n_orders = _record_nb(orders_out, n_orders, i, 1.0, pos, entry_px, entry_fees)
        elif want_exit and pos > 0.0:
            exit_px = open_[i] * (1.0 - slippage)
            acq = pos * exit_px
            exit_fees = acq * fee
            cash = cash + add_nb(acq, -exit_fees)
            acc_round_trip_nb(acc, True, pos * (exit_px - entry_px) - entry_fees - exit_fees)
            n_orders = _record_nb(orders_out, n_orders, i, -1.0, pos, exit_px, exit_fees)
            pos = 0.0
        value = cash + pos * close[i]
        acc_bar_nb(acc, prev_value, value, pos != 0.0)
        prev_value = value
        while k < sample_idx.shape[0] and sample_idx[k] == i:
            samples_out[k] = value
            k += 1
        want_entry, up_below, up_ago = _cross_step_nb(fast[i], slow[i], up_below, up_ago)
        want_exit, dn_below, dn_ago = _cross_step_nb(slow[i], fast[i], dn_below, dn_ago)
    if pos > 0.0:
        acc_round_trip_nb(acc, False, 0.0)
    acc_finish_nb(acc, init_cash, prev_value, years, metrics_out)
    return n_orders


@njit(cache=True, nogil=True)
def _record_nb(orders_out: np.ndarray, n: int, bar: int, side: float, qty: float, px: float, fee: float) -> int:
    if n < orders_out.shape[0]:
        orders_out[n, 0], orders_out[n, 1], orders_out[n, 2], orders_out[n, 3], orders_out[n, 4] = bar, side, qty, px, fee
    return n + 1


@njit(cache=True, nogil=True, parallel=True)
def ma_cross_screen_nb(open_: np.ndarray, close: np.ndarray, mas: np.ndarray, fast_idx: np.ndarray,
                       slow_idx: np.ndarray, costs: np.ndarray, trade_from: int,
                       sample_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs: `mas[w]` is the moving average of window w's row; `costs` = (fee, slippage, init_cash, years).

    Returns (metrics: combos x len(METRICS), samples: len(sample_idx) x combos)."""
    m = fast_idx.shape[0]
    metrics = np.empty((m, len(METRICS)))
    samples = np.empty((sample_idx.shape[0], m))
    no_orders = np.empty((0, 5))
    for j in prange(m):
        column = np.empty(sample_idx.shape[0])
        ma_cross_one_nb(open_, close, mas[fast_idx[j]], mas[slow_idx[j]], costs[0], costs[1], costs[2], costs[3],
                        trade_from, sample_idx, metrics[j], column, no_orders)
        samples[:, j] = column
    return metrics, samples


@njit(cache=True, nogil=True, parallel=True)
def ma_matrix_nb(close: np.ndarray, windows: np.ndarray, ewm: bool) -> np.ndarray:
    """One moving average per window, rows in the order of `windows`, computed in parallel."""
    out = np.empty((windows.shape[0], close.shape[0]))
    for k in prange(windows.shape[0]):
        out[k] = ma_nb(close, windows[k], ewm)
    return out
