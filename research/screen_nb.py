"""The fused sweep kernels for moving-average crossings: every (fast, slow) pair crossed, filled, valued and
scored without intermediate arrays per pair.

`ma_cross_one_nb` runs one pair bar by bar and records its fills: the reference. The screen
(`sma_cross_screen_nb`, `ma_cross_screen_nb`) scores many pairs with the same floating-point operations in the
same order, so the same bits, and skips only work that cannot change a figure. Threads claim chunks of pairs
that share windows; a chunk runs a block of bars at a time, its averages for the block computed into a buffer
in the core's own cache (from one running sum for the simple ones). Per pair and block, a vectorized pass
marks the bars where the crossings can move (about one in a hundred); between them a stretch out of the
market changes nothing, and a stretch in it is valued and accounted bar by bar in a loop with one rare branch.

It applies exactly the rules of vectorbt's `Portfolio.from_signals` for long-only, all-in orders
(`size=inf`): decide at the close of bar t, fill at the open of bar t+1 with slippage, buy with
cash / (1 + fee) of notional, sell the whole position, value at each close; the test suite proves the
two agree order for order and in equity to 1e-9 on real candles. vectorbt then re-runs the top
combinations for full `Portfolio` analytics.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

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
BLOCK_BARS = 2_048  # bars a chunk runs at a time: its averages for the block stay in a core's own cache
CHUNK_COMBOS = 16  # consecutive pairs per task a thread claims: few enough to balance the cores, enough to share rows
TILE_FAST = 4  # `tiled_order`: the pairs of this many fast windows with a run of slow ones (16 pairs: 8 rows)


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


@njit(cache=True, nogil=True, error_model="numpy")
def _event_flags_nb(fast: np.ndarray, slow: np.ndarray, flags: np.ndarray) -> None:
    """flags[t] = 0 where bar t is on the same strict side as bar t - 1 (most bars): there `_cross_nb` fires
    nothing and changes nothing, that side having been seen already. 1 on every other bar (a cross, a tie,
    a NaN), on bar 0, and on the padding after the last bar, which stops a search. Vectorized."""
    n = fast.shape[0]
    flags[0] = 1
    f0, s0, f1, s1 = fast[:n - 1], slow[:n - 1], fast[1:], slow[1:]
    for t in range(n - 1):
        flags[t + 1] = not (((f1[t] > s1[t]) & (f0[t] > s0[t])) | ((f1[t] < s1[t]) & (f0[t] < s0[t])))
    flags[n:] = 1


@njit(cache=True, nogil=True)
def _next_event_nb(words: np.ndarray, t: int) -> int:
    """The first t' >= t whose flag is set, eight flags at a time: `words` is the flags as uint64 (flag t in
    byte t % 8 of word t // 8, little-endian), ending in set padding."""
    w = t >> 3
    word = words[w] >> np.uint64((t & 7) * 8)  # the flags from t to the end of its word
    while word == 0:
        w += 1
        word, t = words[w], w << 3
    return t + (trailing_zeros(word) >> 3)


@njit(cache=True, nogil=True, error_model="numpy")
def _account_nb(acc: tuple, prev_value: float, value: float) -> tuple:
    """`acc_bar_nb`'s sums, peak and drawdown, `acc` = (sum, sum_sq, down_sq, peak, max_dd), for any bar: one
    whose value did not move adds exactly zero to every sum and cannot set a new peak or drawdown."""
    if value == prev_value:
        return acc
    total, total_sq, down_sq, peak, max_dd = acc
    if prev_value == 0:
        r = np.inf * np.sign(value)
    else:
        r = (value - prev_value) / prev_value
        r = -r if prev_value < 0 else r
    down = r if r < 0 else 0.0
    if value > peak:
        peak = value
    elif value < peak * (1.0 + max_dd):
        max_dd = value / peak - 1.0
    return total + r, total_sq + r * r, down_sq + down * down, peak, max_dd


@njit(cache=True, nogil=True, error_model="numpy")
def _hold_nb(close: np.ndarray, lo: int, hi: int, book: tuple, acc: tuple) -> tuple[float, tuple]:
    """`_account_nb` over bars [lo, hi) of a long position, `book` = (cash >= 0, pos > 0, value of bar lo - 1
    > 0), with positive prices: every value is then positive, so the return needs neither of its guards, a
    bar whose value did not move adds +0.0 (no bits change) and leaves the peak and drawdown as they were,
    and a value above the peak cannot be a new drawdown. The same operations on the same values, so the same
    bits, in a loop with one rare branch. Returns (value of bar hi - 1, acc)."""
    cash, pos, prev_value = book
    total, total_sq, down_sq, peak, max_dd = acc
    i = lo
    while i < hi:
        deeper = False
        while i < hi:
            value = cash + pos * close[i]
            r = (value - prev_value) / prev_value
            down = r if r < 0 else 0.0
            total, total_sq, down_sq = total + r, total_sq + r * r, down_sq + down * down
            deeper = value < peak * (1.0 + max_dd)
            peak = value if value > peak else peak
            prev_value = value
            i += 1
            if deeper:
                break
        if deeper:  # a new drawdown: rare, so a branch out of the loop rather than a division in it
            max_dd = prev_value / peak - 1.0
    return prev_value, (total, total_sq, down_sq, peak, max_dd)


@njit(cache=True, nogil=True)
def _sample_nb(sampling: tuple, k: int, hi: int, book: tuple, close: np.ndarray) -> int:
    """The values of the samples that name bars before `hi` (from the k-th on), in a stretch valued with
    `book` = (cash, pos): cash + pos * close, as the bar loop values it. Returns the next k."""
    samples, col, sample_idx = sampling
    cash, pos = book
    while k < sample_idx.shape[0] and sample_idx[k] < hi:
        samples[k, col] = cash + pos * close[sample_idx[k]]
        k += 1
    return k


@njit(cache=True, nogil=True)
def _fill_nb(state: np.ndarray, open_px: float, cash: float, pos: float, costs: np.ndarray) -> tuple[float, float]:
    """The fill of a due decision at the open, as `ma_cross_one_nb` fills it: out of the market an all-in buy
    (entry price and fees kept in `state`), in it a sale of the whole position, counted as a round trip.
    Returns (cash, pos) after it."""
    fee, slippage = costs[0], costs[1]
    if pos == 0.0:
        entry_px = open_px * (1.0 + slippage)
        max_req_cash = cash / (1.0 + fee)
        state[_ENTRY_PX], state[_ENTRY_FEES] = entry_px, cash - max_req_cash
        return add_nb(cash, -cash), max_req_cash / entry_px
    exit_px = open_px * (1.0 - slippage)
    acq = pos * exit_px
    exit_fees = acq * fee
    acc_round_trip_nb(state[_ACC:], True, pos * (exit_px - state[_ENTRY_PX]) - state[_ENTRY_FEES] - exit_fees)
    return cash + add_nb(acq, -exit_fees), 0.0


@njit(cache=True, nogil=True)
def _run_block_nb(state: np.ndarray, bars: tuple, rows: tuple, lo: int, costs: np.ndarray, sampling: tuple,
                  flags: np.ndarray) -> None:
    """One combination over one block, from and back into its `state` row: `rows` are the block's slices
    of its fast and slow averages, starting at bar `lo`. The loop of `ma_cross_one_nb`, with the same
    floating-point operations in the same order (so the same bits), taken in stretches: the crossings move
    only on the bars `_event_flags_nb` marks, a decision fills at the next open, and in between a stretch
    in the market is valued and accounted bar by bar while one out of it (valued at its cash) is only
    counted."""
    open_, close = bars
    fast, slow = rows
    hi = lo + fast.shape[0]
    _event_flags_nb(fast, slow, flags)
    words = flags.view(np.uint64)
    cross = (state[_PREV_GT] != 0, state[_PREV_LT] != 0, state[_SEEN_LT] != 0, state[_SEEN_GT] != 0)
    want_entry, want_exit = state[_WANT_ENTRY] != 0, state[_WANT_EXIT] != 0
    cash, pos, value, k = state[_CASH], state[_POS], state[_PREV_VALUE], int(state[_K])
    acc = (state[_SUM], state[_SUM_SQ], state[_DOWN_SQ], state[_PEAK], state[_MAX_DD])
    in_market, i = 0, lo
    while i < hi:
        if (want_entry & (pos == 0.0)) | (want_exit & (pos > 0.0)):  # a decision fills at this bar's open
            cash, pos = _fill_nb(state, open_[i], cash, pos, costs)
            if pos == 0.0:  # sold: this bar is valued at the cash, and the stretch is out of the market
                sold = cash + pos * close[i]
                value, acc = sold, _account_nb(acc, value, sold)
        e = min(lo + _next_event_nb(words, i - lo), hi - 1)  # bars [i, e) are quiet; e steps the crossings
        if pos != 0.0:
            value, acc = _hold_nb(close, i, e + 1, (cash, pos, value), acc)
            in_market += e + 1 - i
        k = _sample_nb(sampling, k, e + 1, (cash, pos), close)
        want_entry, want_exit = False, False
        if flags[e - lo]:
            want_entry, want_exit, prev_gt, prev_lt, seen_lt, seen_gt = _cross_nb(fast[e - lo], slow[e - lo], *cross)
            cross = (prev_gt, prev_lt, seen_lt, seen_gt)
        i = e + 1
    state[_PREV_GT], state[_PREV_LT], state[_SEEN_LT], state[_SEEN_GT] = cross
    state[_WANT_ENTRY], state[_WANT_EXIT], state[_CASH], state[_POS], state[_PREV_VALUE] = want_entry, want_exit, \
        cash, pos, value
    state[_SUM], state[_SUM_SQ], state[_DOWN_SQ], state[_PEAK], state[_MAX_DD] = acc
    state[_N], state[_IN_MARKET], state[_K] = state[_N] + (hi - lo), state[_IN_MARKET] + in_market, k


@njit(cache=True, nogil=True)
def _warm_nb(state: np.ndarray, fast: np.ndarray, slow: np.ndarray) -> None:
    """Step a combination's crossings over bars before the trading starts: they warm the machines, and a
    decision made on them is not acted on."""
    prev_gt, prev_lt, seen_lt, seen_gt = state[_PREV_GT] != 0, state[_PREV_LT] != 0, state[_SEEN_LT] != 0, \
        state[_SEEN_GT] != 0
    for t in range(fast.shape[0]):
        _, _, prev_gt, prev_lt, seen_lt, seen_gt = _cross_nb(fast[t], slow[t], prev_gt, prev_lt, seen_lt, seen_gt)
    state[_PREV_GT], state[_PREV_LT], state[_SEEN_LT], state[_SEEN_GT] = prev_gt, prev_lt, seen_lt, seen_gt


@njit(cache=True, nogil=True)
def _start_nb(state: np.ndarray, init_cash: float) -> None:
    """Before the first bar: no bar seen, no decision pending, all cash."""
    state[:] = 0.0
    state[_CASH], state[_PREV_VALUE] = init_cash, init_cash
    acc_start_nb(state[_ACC:], init_cash)


@njit(cache=True, nogil=True)
def _finish_nb(state: np.ndarray, costs: np.ndarray, out: np.ndarray) -> None:
    """The METRICS of a combination whose bars have all run: a position still open counts as a round trip."""
    if state[_POS] > 0.0:
        acc_round_trip_nb(state[_ACC:], False, 0.0)
    acc_finish_nb(state[_ACC:], costs[2], state[_PREV_VALUE], costs[3], out)


@intrinsic
def _claim_nb(typingctx, counter):
    """Add 1 to counter[0] atomically and return what it held: the next task, for whichever thread asks."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.atomic_rmw("add", data, context.get_constant(types.int64, 1), "monotonic")

    return types.int64(counter), codegen


@njit(cache=True, nogil=True)
def _block_rows_nb(source: tuple, need: np.ndarray, span: tuple, rows: np.ndarray) -> None:
    """The averages of the window rows `need` marks on bars `span` = [lo, hi) into the start of their rows of
    `rows`: copied from `mas`, or when it has none computed from the running sums (`_sma_row_nb`)."""
    mas, sums, windows = source
    lo, hi = span
    for w in range(need.shape[0]):
        if need[w] and mas.shape[0]:
            rows[w, :hi - lo] = mas[w, lo:hi]
        elif need[w]:
            _sma_row_nb(sums, windows[w], lo, rows[w, :hi - lo])


@njit(cache=True, nogil=True)
def _screen_chunk_nb(bars: tuple, source: tuple, pairs: tuple, costs: np.ndarray, out: tuple, chunk: tuple,
                     trade_from: int) -> None:
    """The pairs `chunk` = [first, stop), every bar, a block of BLOCK_BARS at a time: the block's averages of
    the windows they use into a buffer, then each pair through it (the bars before `trade_from` only warm its
    crossings). `out` = (metrics, samples, sample_idx)."""
    metrics, samples, sample_idx = out
    fast_idx, slow_idx = pairs
    j0, j1 = chunk
    n, n_rows = bars[1].shape[0], source[0].shape[0] if source[0].shape[0] else source[2].shape[0]
    states, need = np.empty((j1 - j0, N_STATE)), np.zeros(n_rows, dtype=np.bool_)
    for j in range(j0, j1):
        need[fast_idx[j]], need[slow_idx[j]] = True, True
        _start_nb(states[j - j0], costs[2])
    rows, flags = np.empty((n_rows, BLOCK_BARS)), np.empty(BLOCK_BARS + 8, dtype=np.uint8)
    for lo in range(0, n, BLOCK_BARS):
        hi = min(lo + BLOCK_BARS, n)
        _block_rows_nb(source, need, (lo, hi), rows)
        warm = min(max(trade_from, lo), hi)  # bars [lo, warm) only warm the crossings
        for j in range(j0, j1):
            fast, slow = rows[fast_idx[j], :hi - lo], rows[slow_idx[j], :hi - lo]
            if warm > lo:
                _warm_nb(states[j - j0], fast[:warm - lo], slow[:warm - lo])
            if hi > warm:
                _run_block_nb(states[j - j0], bars, (fast[warm - lo:], slow[warm - lo:]), warm, costs,
                              (samples, j, sample_idx), flags)
    for j in range(j0, j1):
        _finish_nb(states[j - j0], costs, metrics[j])


@njit(cache=True, nogil=True)
def _check_screenable_nb(open_: np.ndarray, close: np.ndarray, costs: np.ndarray) -> None:
    """What `_hold_nb` relies on: positive, finite prices and the costs `engine.core.costs.Costs` allows."""
    for i in range(close.shape[0]):
        if not (0.0 < open_[i] < np.inf and 0.0 < close[i] < np.inf):
            raise ValueError("the fused screen needs positive, finite open and close prices")
    if not (0.0 <= costs[0] < 1.0 and 0.0 <= costs[1] < 1.0 and 0.0 < costs[2] < np.inf):
        raise ValueError("the fused screen needs 0 <= fee < 1, 0 <= slippage < 1 and a positive initial cash")


@njit(cache=True, nogil=True, parallel=True)
def _screen_nb(bars: tuple, source: tuple, pairs: tuple, costs: np.ndarray, trade_from: int,
               sample_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The screen of `ma_cross_screen_nb` and `sma_cross_screen_nb`, `source` = (mas, sums, windows): the
    rows of `mas`, or when it has none the simple averages of `windows` from `sums` (`_running_sums_nb`).
    Chunks of CHUNK_COMBOS consecutive pairs (`tiled_order` puts pairs that share windows together), claimed
    one at a time by the threads, each until none is left."""
    (open_, close), (mas, (cumsum_arr, nancnt_arr), windows), (fast_idx, slow_idx) = bars, source, pairs
    _check_screenable_nb(open_, close, costs)
    m = fast_idx.shape[0]
    metrics, samples = np.empty((m, len(METRICS))), np.empty((sample_idx.shape[0], m))
    n_chunks, claimed = (m + CHUNK_COMBOS - 1) // CHUNK_COMBOS, np.zeros(1, dtype=np.int64)
    for _ in prange(n_chunks):  # numba hands each thread an equal share of these up front (OpenMP): the first
        c = _claim_nb(claimed)  # ones claim chunks as their threads free up until none is left, the others none
        while c < n_chunks:
            _screen_chunk_nb((open_, close), (mas, (cumsum_arr, nancnt_arr), windows), (fast_idx, slow_idx), costs,
                             (metrics, samples, sample_idx), (c * CHUNK_COMBOS, min((c + 1) * CHUNK_COMBOS, m)),
                             trade_from)
            c = _claim_nb(claimed)
    return metrics, samples


@njit(cache=True, nogil=True)
def ma_cross_screen_nb(open_: np.ndarray, close: np.ndarray, mas: np.ndarray, fast_idx: np.ndarray,
                       slow_idx: np.ndarray, costs: np.ndarray, trade_from: int,
                       sample_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs, as `ma_cross_one_nb` scores each: `mas[w]` is the moving average of window row w;
    `costs` = (fee, slippage, init_cash, years); prices positive and finite. The threads numba is given
    (`numba.set_num_threads`) claim chunks of CHUNK_COMBOS pairs one at a time, so a thread that gets less of
    a shared machine takes fewer; a pair is computed whole by one thread, so the figures are the same bits on
    any number of threads.

    Returns (metrics: combos x len(METRICS), samples: len(sample_idx) x combos)."""
    return _screen_nb((open_, close), (mas, (close[:0], close[:0]), fast_idx[:0]), (fast_idx, slow_idx), costs,
                      trade_from, sample_idx)


@njit(cache=True, nogil=True)
def sma_cross_screen_nb(open_: np.ndarray, close: np.ndarray, windows: np.ndarray, fast_idx: np.ndarray,
                        slow_idx: np.ndarray, costs: np.ndarray, trade_from: int,
                        sample_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`ma_cross_screen_nb` with `mas` = `ma_matrix_nb(close, windows, False)`, the same bits, without that
    matrix: a chunk computes the simple averages it reads a block at a time, from one running sum."""
    return _screen_nb((open_, close), (np.empty((0, 0)), _running_sums_nb(close), windows), (fast_idx, slow_idx),
                      costs, trade_from, sample_idx)


def tiled_order(fast_idx: np.ndarray, slow_idx: np.ndarray) -> np.ndarray:
    """An order of the pairs in which CHUNK_COMBOS consecutive ones share windows: by groups of TILE_FAST fast
    rows, then slow row, then fast row (a grid of 20 x 20 windows gives chunks of 4 fast x 4 slow: 8 rows for
    16 pairs, where the grid's own order reads 17)."""
    return np.lexsort((fast_idx % TILE_FAST, slow_idx, fast_idx // TILE_FAST))


@njit(cache=True, nogil=True)
def _running_sums_nb(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`sma_nb`'s running sum of the values that are not NaN and running count of NaNs (as floats), which do
    not depend on the window: computed once for every window."""
    n = a.shape[0]
    cumsum_arr, nancnt_arr = np.empty(n), np.empty(n)
    cumsum, nancnt = 0.0, 0
    for i in range(n):
        if np.isnan(a[i]):
            nancnt += 1
        else:
            cumsum += a[i]
        nancnt_arr[i], cumsum_arr[i] = nancnt, cumsum
    return cumsum_arr, nancnt_arr


@njit(cache=True, nogil=True, error_model="numpy")
def _sma_row_nb(sums: tuple, window: int, lo: int, out: np.ndarray) -> None:
    """`sma_nb(a, window)[lo:lo + len(out)]` into `out` from `_running_sums_nb(a)`: the same operations on the
    same values, so the same bits; the bars past the first window vectorized (unsigned indices: no
    wraparound, no views)."""
    cumsum_arr, nancnt_arr = sums
    hi = lo + out.shape[0]
    mid = min(max(window, lo), hi)  # bars [lo, mid) are inside the first window
    for i in range(lo, mid):
        window_len = i + 1 - nancnt_arr[i]
        out[i - lo] = np.nan if window_len < window else cumsum_arr[i] / window_len
    back, first = np.uint64(window), np.uint64(lo)
    for i in range(np.uint64(mid), np.uint64(hi)):
        window_len = window - (nancnt_arr[i] - nancnt_arr[i - back])
        out[i - first] = np.nan if window_len < window else (cumsum_arr[i] - cumsum_arr[i - back]) / window_len


@njit(cache=True, nogil=True, parallel=True)
def ma_matrix_nb(close: np.ndarray, windows: np.ndarray, ewm: bool) -> np.ndarray:
    """`ma_nb(close, w, ewm)` for every window w, rows in the order of `windows`, computed in parallel; the
    simple averages share one running sum."""
    out = np.empty((windows.shape[0], close.shape[0]))
    if ewm:
        for k in prange(windows.shape[0]):
            out[k] = ma_nb(close, windows[k], True)
    else:
        sums = _running_sums_nb(close)
        for k in prange(windows.shape[0]):
            _sma_row_nb(sums, windows[k], 0, out[k])
    return out
