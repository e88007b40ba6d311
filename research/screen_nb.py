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

from engine.core.costs_nb import add_nb
from engine.strategy.indicators_nb import ma_nb
from engine.sim.metrics_nb import METRICS, N_ACC, acc_bar_nb, acc_finish_nb, acc_round_trip_nb, acc_start_nb

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
    from `trade_from` on (`engine.sim.metrics_nb.window_years`). Returns the number of fills."""
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


# The screen carries each combination's state from one block of bars to the next in one row of floats:
# the crossing machines, the pending decisions, the book, the next sample, then the metric accumulator in
# `engine.sim.metrics_nb`'s slot order (N, SUM, SUM_SQ, DOWN_SQ, PEAK, MAX_DD, IN_MARKET, TRADES, CLOSED, WINS).
_PREV_GT, _PREV_LT, _SEEN_LT, _SEEN_GT, _WANT_ENTRY, _WANT_EXIT, _CASH, _POS, _PREV_VALUE, _ENTRY_PX, _ENTRY_FEES, \
    _K, _ACC = range(13)
_N, _SUM, _SUM_SQ, _DOWN_SQ, _PEAK, _MAX_DD, _IN_MARKET = range(_ACC, _ACC + 7)
N_STATE = _ACC + N_ACC
BLOCK_BARS = 4096  # bars per block: every row a chunk of combinations reads for a block stays in L2
CHUNK_COMBOS = 16  # combinations per parallel task: small enough to balance two cores, big enough to amortize


@njit(cache=True, nogil=True)
def _cross_nb(f: float, s: float, prev_gt: bool, prev_lt: bool, seen_lt: bool,
              seen_gt: bool) -> tuple[bool, bool, bool, bool, bool, bool]:
    """Both of vectorbt's `crossed_above` machines (fast over slow: entry; slow over fast: exit) in one step,
    without branches: a side fires on the first bar above after a bar not above, once the other side has
    been seen since the last NaN (a tie ends a run above but keeps what was seen).
    Returns (entry, exit, prev_gt, prev_lt, seen_lt, seen_gt)."""
    gt, lt = f > s, f < s
    valid = gt | lt | (f == s)
    return gt & seen_lt & (not prev_gt), lt & seen_gt & (not prev_lt), gt, lt, (seen_lt | lt) & valid, \
        (seen_gt | gt) & valid


@njit(cache=True, nogil=True)
def _start_state_nb(state: np.ndarray, fast: np.ndarray, slow: np.ndarray, trade_from: int, init_cash: float) -> None:
    """The state at bar `trade_from`: crossings warmed on the bars before it, no decision pending, all cash."""
    prev_gt, prev_lt, seen_lt, seen_gt = False, False, False, False
    for i in range(trade_from):
        _, _, prev_gt, prev_lt, seen_lt, seen_gt = _cross_nb(fast[i], slow[i], prev_gt, prev_lt, seen_lt, seen_gt)
    state[:] = 0.0
    state[_PREV_GT], state[_PREV_LT], state[_SEEN_LT], state[_SEEN_GT] = prev_gt, prev_lt, seen_lt, seen_gt
    state[_CASH], state[_PREV_VALUE] = init_cash, init_cash
    acc_start_nb(state[_ACC:], init_cash)


@njit(cache=True, nogil=True)
def _enter_nb(state: np.ndarray, open_px: float, cash: float, fee: float, slippage: float) -> tuple[float, float]:
    """An all-in buy at the open (as `ma_cross_one_nb`): (cash, pos) after it; entry price and fees kept."""
    entry_px = open_px * (1.0 + slippage)
    max_req_cash = cash / (1.0 + fee)
    state[_ENTRY_PX], state[_ENTRY_FEES] = entry_px, cash - max_req_cash
    return add_nb(cash, -cash), max_req_cash / entry_px


@njit(cache=True, nogil=True)
def _exit_nb(state: np.ndarray, open_px: float, cash: float, pos: float, fee: float, slippage: float) -> float:
    """Sell the whole position at the open (as `ma_cross_one_nb`) and count the round trip: cash after it."""
    exit_px = open_px * (1.0 - slippage)
    acq = pos * exit_px
    exit_fees = acq * fee
    acc_round_trip_nb(state[_ACC:], True, pos * (exit_px - state[_ENTRY_PX]) - state[_ENTRY_FEES] - exit_fees)
    return cash + add_nb(acq, -exit_fees)


@njit(cache=True, nogil=True)
def _bar_return_nb(prev_value: float, value: float) -> float:
    """`acc_bar_nb`'s return of a bar whose value moved."""
    if prev_value == 0:
        return np.inf * np.sign(value)
    r = (value - prev_value) / prev_value
    return -r if prev_value < 0 else r


@njit(cache=True, nogil=True)
def _sample_nb(samples: np.ndarray, col: int, sample_idx: np.ndarray, k: int, i: int, value: float) -> tuple[int, int]:
    """Write the value of bar i at every sample that names it: (next k, bar of the next sample or -1)."""
    while k < sample_idx.shape[0] and sample_idx[k] == i:
        samples[k, col] = value
        k += 1
    return k, sample_idx[k] if k < sample_idx.shape[0] else -1


@njit(cache=True, nogil=True)
def _run_block_nb(state: np.ndarray, bars: tuple, fast: np.ndarray, slow: np.ndarray, lo: int, hi: int,
                  costs: np.ndarray, sample_idx: np.ndarray, samples: np.ndarray, col: int) -> None:
    """Bars [lo, hi) of one combination, from and back into its `state` row: the loop of `ma_cross_one_nb`
    with the same floating-point operations in the same order (so the same bits), minus the work that
    cannot change a figure: a bar whose value did not move adds exactly zero to every sum and cannot set a
    new peak or drawdown, so it is only counted."""
    open_, close = bars
    fee, slippage = costs[0], costs[1]
    prev_gt, prev_lt, seen_lt, seen_gt = state[_PREV_GT] != 0, state[_PREV_LT] != 0, state[_SEEN_LT] != 0, \
        state[_SEEN_GT] != 0
    want_entry, want_exit = state[_WANT_ENTRY] != 0, state[_WANT_EXIT] != 0
    cash, pos, prev_value = state[_CASH], state[_POS], state[_PREV_VALUE]
    total, total_sq, down_sq, peak, max_dd = state[_SUM], state[_SUM_SQ], state[_DOWN_SQ], state[_PEAK], state[_MAX_DD]
    in_market, k = 0, int(state[_K])
    next_sample = sample_idx[k] if k < sample_idx.shape[0] else -1
    for i in range(lo, hi):
        if want_entry & (pos == 0.0):
            cash, pos = _enter_nb(state, open_[i], cash, fee, slippage)
        elif want_exit & (pos > 0.0):
            cash, pos = _exit_nb(state, open_[i], cash, pos, fee, slippage), 0.0
        value = cash + pos * close[i]
        if value != prev_value:
            r = _bar_return_nb(prev_value, value)
            down = r if r < 0 else 0.0  # a select, not a branch: adding 0.0 leaves the sum's bits alone
            total, total_sq, down_sq = total + r, total_sq + r * r, down_sq + down * down
            if value > peak:
                peak = value
            elif value < peak * (1.0 + max_dd):
                max_dd = value / peak - 1.0
        in_market += pos != 0.0
        prev_value = value
        if i == next_sample:
            k, next_sample = _sample_nb(samples, col, sample_idx, k, i, value)
        want_entry, want_exit, prev_gt, prev_lt, seen_lt, seen_gt = _cross_nb(fast[i], slow[i], prev_gt, prev_lt,
                                                                              seen_lt, seen_gt)
    state[_PREV_GT], state[_PREV_LT], state[_SEEN_LT], state[_SEEN_GT] = prev_gt, prev_lt, seen_lt, seen_gt
    state[_WANT_ENTRY], state[_WANT_EXIT], state[_CASH], state[_POS], state[_PREV_VALUE] = want_entry, want_exit, \
        cash, pos, prev_value
    state[_N], state[_IN_MARKET], state[_K] = state[_N] + (hi - lo), state[_IN_MARKET] + in_market, k
    state[_SUM], state[_SUM_SQ], state[_DOWN_SQ], state[_PEAK], state[_MAX_DD] = total, total_sq, down_sq, peak, max_dd


@njit(cache=True, nogil=True)
def _screen_chunk_nb(bars: tuple, mas: np.ndarray, fast_idx: np.ndarray, slow_idx: np.ndarray, costs: np.ndarray,
                     trade_from: int, sample_idx: np.ndarray, cols: tuple, out: tuple) -> None:
    """Combinations `cols` = (first, stop), block of bars after block of bars, so the rows they read stay in
    cache; each combination still sees its bars in order, so its figures do not depend on the blocking."""
    j0, j1 = cols
    metrics, samples = out
    states = np.empty((j1 - j0, N_STATE))
    for j in range(j0, j1):
        _start_state_nb(states[j - j0], mas[fast_idx[j]], mas[slow_idx[j]], trade_from, costs[2])
    n = bars[1].shape[0]
    for lo in range(trade_from, n, BLOCK_BARS):
        for j in range(j0, j1):
            _run_block_nb(states[j - j0], bars, mas[fast_idx[j]], mas[slow_idx[j]], lo, min(lo + BLOCK_BARS, n),
                          costs, sample_idx, samples, j)
    for j in range(j0, j1):
        state = states[j - j0]
        if state[_POS] > 0.0:
            acc_round_trip_nb(state[_ACC:], False, 0.0)
        acc_finish_nb(state[_ACC:], costs[2], state[_PREV_VALUE], costs[3], metrics[j])


@njit(cache=True, nogil=True, parallel=True)
def ma_cross_screen_nb(open_: np.ndarray, close: np.ndarray, mas: np.ndarray, fast_idx: np.ndarray,
                       slow_idx: np.ndarray, costs: np.ndarray, trade_from: int,
                       sample_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs, as `ma_cross_one_nb` scores each: `mas[w]` is the moving average of window w's row;
    `costs` = (fee, slippage, init_cash, years). Chunks of CHUNK_COMBOS combinations run in parallel on the
    threads numba is given (`numba.set_num_threads`); a combination is computed by one thread from start to
    end, so the figures are the same bits on any number of threads.

    Returns (metrics: combos x len(METRICS), samples: len(sample_idx) x combos)."""
    m = fast_idx.shape[0]
    metrics = np.empty((m, len(METRICS)))
    samples = np.empty((sample_idx.shape[0], m))
    n_chunks = (m + CHUNK_COMBOS - 1) // CHUNK_COMBOS
    for c in prange(n_chunks):
        _screen_chunk_nb((open_, close), mas, fast_idx, slow_idx, costs, trade_from, sample_idx,
                         (c * CHUNK_COMBOS, min((c + 1) * CHUNK_COMBOS, m)), (metrics, samples))
    return metrics, samples


@njit(cache=True, nogil=True, parallel=True)
def ma_matrix_nb(close: np.ndarray, windows: np.ndarray, ewm: bool) -> np.ndarray:
    """One moving average per window, rows in the order of `windows`, computed in parallel."""
    out = np.empty((windows.shape[0], close.shape[0]))
    for k in prange(windows.shape[0]):
        out[k] = ma_nb(close, windows[k], ewm)
    return out
