"""The fused screen kernel: with its own simple averages or given rows, on one thread or two, it gives the bits
of the one-combination kernel (`ma_cross_one_nb`, which the sweep tests hold to vectorbt) on real candles and
on random series long enough to cross its blocks, with pairs enough for several chunks; its simple averages
are `ma_nb`'s."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sim.metrics_nb import METRICS
from engine.strategy.bars import Bars
from engine.strategy.indicators_nb import ma_nb
from research.parallel import numba_threads
from research.screen_nb import (BLOCK_BARS, CHUNK_COMBOS, _running_sums_nb, _sma_row_nb, ma_cross_one_nb,
                                ma_cross_screen_nb, ma_matrix_nb, sma_cross_screen_nb)
from tests.conftest import shared_candles

KNOBS = np.array([0.001, 0.0005, 10_000.0, 0.25])  # fee, slippage, initial cash, years


def one_by_one(open_, close, mas, pairs, trade_from, sample_idx, knobs=KNOBS):
    """`ma_cross_one_nb` for each (fast row, slow row) pair, in the screen's layout: (metrics, samples)."""
    fast, slow = pairs
    metrics, samples = np.empty((len(fast), len(METRICS))), np.empty((len(sample_idx), len(fast)))
    for j in range(len(fast)):
        values = np.empty(len(sample_idx))
        ma_cross_one_nb(open_, close, mas[fast[j]], mas[slow[j]], *knobs, trade_from, sample_idx, metrics[j], values,
                        np.empty((0, 5)))
        samples[:, j] = values
    return metrics, samples


def same_bits(got, want) -> bool:
    return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("file", ["binance_BTC-USDT_1m.parquet", "binance_ETH-USDT_5m.parquet"])
def test_the_screen_on_one_thread_and_on_two_equals_the_one_combination_kernel_on_real_candles(file):
    bars = Bars.from_frame(shared_candles(file))  # 130,708 and 65,742 bars: outages, flat candles
    windows = np.array([5, 10, 20, 45, 60, 120, 400], dtype=np.int64)
    pairs = np.array([(a, b) for a in range(len(windows)) for b in range(len(windows)) if windows[a] < windows[b]]).T
    mas = ma_matrix_nb(bars.close, windows, False)
    trade_from = 401
    sample_idx = np.r_[trade_from, np.arange(trade_from, len(bars), 997), len(bars) - 1]  # a repeat, the last bar
    want = one_by_one(bars.open, bars.close, mas, pairs, trade_from, sample_idx)
    assert (want[0][:, METRICS.index("trades")] > 50).all()
    runs = {}
    for threads in (1, 2):
        with numba_threads(threads):
            runs[threads] = sma_cross_screen_nb(bars.open, bars.close, windows, *pairs, KNOBS, trade_from, sample_idx)
            assert same_bits(ma_cross_screen_nb(bars.open, bars.close, mas, *pairs, KNOBS, trade_from, sample_idx),
                             want)
    assert same_bits(runs[1], want) and same_bits(runs[2], runs[1])


@st.composite
def long_screens(draw):
    """A random walk on a coarse tick (averages tie), short or long enough to cross several blocks, pairs
    enough for several chunks, NaNs in the given rows, any start of trading and samples (repeats allowed)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.one_of(st.integers(2, 300), st.integers(BLOCK_BARS - 10, 5 * BLOCK_BARS + 10)))
    close = np.maximum(1_000.0 + draw(st.sampled_from([0.01, 1.0])) * np.cumsum(rng.integers(-1, 2, n)), 1.0)
    open_ = np.r_[close[0], close[:-1]] + rng.integers(0, 2, n) * 0.5
    windows = np.array(sorted(rng.choice(np.arange(1, 60), size=draw(st.integers(2, 6)), replace=False)))
    pairs = np.array([(a, b) for a in range(len(windows)) for b in range(len(windows)) if a != b]).T
    assert CHUNK_COMBOS < 30  # six windows make 30 pairs: two chunks
    trade_from = draw(st.integers(0, n - 1))
    sample_idx = np.sort(rng.integers(trade_from, n, draw(st.integers(1, 40))))
    return open_, close, windows, pairs, trade_from, sample_idx


@settings(max_examples=40, deadline=None)
@given(case=long_screens(), ewm=st.booleans(), nans=st.integers(0, 6), threads=st.sampled_from([1, 2]))
def test_the_screen_equals_the_one_combination_kernel_on_long_random_series(case, ewm, nans, threads):
    open_, close, windows, pairs, trade_from, sample_idx = case
    mas = ma_matrix_nb(close, windows, ewm)
    rng = np.random.default_rng(nans)
    mas[rng.integers(0, len(windows), nans), rng.integers(0, len(close), nans)] = np.nan
    want = one_by_one(open_, close, mas, pairs, trade_from, sample_idx)
    with numba_threads(threads):
        assert same_bits(ma_cross_screen_nb(open_, close, mas, *pairs, KNOBS, trade_from, sample_idx), want)
        if not ewm and not nans:
            assert same_bits(sma_cross_screen_nb(open_, close, windows, *pairs, KNOBS, trade_from, sample_idx), want)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3_000), window=st.integers(1, 500),
       nans=st.integers(0, 20), lo=st.integers(0, 3_000), length=st.integers(1, 3_000))
def test_the_screens_simple_averages_are_ma_nbs_bit_for_bit(seed, n, window, nans, lo, length):
    rng = np.random.default_rng(seed)
    close = np.round(100.0 + np.cumsum(rng.normal(0, 1, n)), 2)
    close[rng.integers(0, n, nans)] = np.nan
    want = ma_nb(close, window, False)
    assert np.array_equal(ma_matrix_nb(close, np.array([window]), False)[0].view(np.int64), want.view(np.int64))
    lo = min(lo, n - 1)
    out = np.empty(min(length, n - lo))
    _sma_row_nb(_running_sums_nb(close), window, lo, out)  # a block of bars starts anywhere
    assert np.array_equal(out.view(np.int64), want[lo:lo + len(out)].view(np.int64))


@pytest.mark.parametrize("damage, match", [
    (lambda close, knobs: close.__setitem__(7, 0.0), "positive, finite open and close"),
    (lambda close, knobs: close.__setitem__(7, np.inf), "positive, finite open and close"),
    (lambda close, knobs: knobs.__setitem__(0, 1.0), "0 <= fee < 1"),
])
def test_the_screen_refuses_prices_and_costs_it_cannot_take(damage, match):
    close, knobs = 100.0 + np.arange(50.0), KNOBS.copy()
    damage(close, knobs)
    with pytest.raises(ValueError, match=match):
        sma_cross_screen_nb(close, close, np.array([2, 5]), np.array([0]), np.array([1]), knobs, 0, np.array([49]))


def test_a_sweep_names_the_first_bar_the_fused_screen_cannot_price():
    from research.sweep import _refuse_unpriced

    frame = shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet").copy()
    frame.loc[frame.index[[7, 9]], "close"] = 0.0
    with pytest.raises(ValueError, match=r"bar 7 \(2024-01-01 07:00:00\+00:00\) of 2 has open [0-9.]+ and close 0.0"):
        _refuse_unpriced(Bars.from_frame(frame))
    _refuse_unpriced(Bars.from_frame(shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet")))  # real: fine
