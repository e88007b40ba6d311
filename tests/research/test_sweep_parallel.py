"""Both cores: the fused kernel on numba threads and the vectorbt batches on worker processes give the same
bits as one core, and the blocked, parallel screen equals the one-combination kernel and a slow reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.sim.metrics_nb import METRICS, N_ACC, acc_finish_nb
from engine.strategy.contract import load_strategy
from research.parallel import numba_threads
from research.screen_nb import ma_cross_one_nb, ma_cross_screen_nb, ma_matrix_nb
from research.sweep import results_frame, score_combos
from tests.conftest import shared_candles

COSTS = Costs(fee_rate=0.001, slippage_rate=0.0005, init_cash=10_000.0)


@pytest.mark.parametrize("name, file, timeframe", [
    ("sma_cross", "binance_BTC-USDT_1m.parquet", "1m"),   # 130,708 bars: many blocks of the screen
    ("ema_cross", "binance_ETH-USDT_5m.parquet", "5m"),   # outages and flat candles
])
def test_the_fused_sweep_on_both_cores_equals_one_core_bit_for_bit(name, file, timeframe):
    bars = Bars.from_frame(shared_candles(file))
    strategy = load_strategy(name)
    combos = list(strategy.grid_params({"fast": [5, 10, 20, 45], "slow": [30, 60, 120, 400]}))
    for window in (None, (20_000, 60_000)):
        one = score_combos(strategy, bars, combos, COSTS, timeframe, window=window, workers=1)
        both = score_combos(strategy, bars, combos, COSTS, timeframe, window=window, workers=2)
        assert np.array_equal(one.metrics, both.metrics, equal_nan=True)
        assert np.array_equal(one.daily_values, both.daily_values)
        assert (one.metrics[:, METRICS.index("trades")] > 10).all()


def test_the_screen_equals_the_one_combination_kernel_bit_for_bit_on_real_candles():
    bars = Bars.from_frame(shared_candles("binance_BTC-USDT_1m.parquet"))
    windows = np.array([5, 20, 50, 200], dtype=np.int64)
    mas = ma_matrix_nb(bars.close, windows, False)
    fast, slow = np.array([0, 0, 1, 2]), np.array([1, 3, 2, 3])
    trade_from, n = 300, len(bars)
    sample_idx = np.arange(trade_from, n, 997)
    knobs = np.array([COSTS.fee_rate, COSTS.slippage_rate, COSTS.init_cash, 0.25])
    with numba_threads(2):
        metrics, samples = ma_cross_screen_nb(bars.open, bars.close, mas, fast, slow, knobs, trade_from, sample_idx)
    for j in range(len(fast)):
        one, values = np.empty(len(METRICS)), np.empty(len(sample_idx))
        ma_cross_one_nb(bars.open, bars.close, mas[fast[j]], mas[slow[j]], *knobs, trade_from, sample_idx, one,
                        values, np.empty((0, 5)))
        assert np.array_equal(metrics[j], one, equal_nan=True)
        assert np.array_equal(samples[:, j], values)


def reference_screen(open_, close, fast, slow, knobs, trade_from, sample_idx):
    """A slow, plain-Python statement of the screen for one pair: vectorbt's `crossed_above` as a state
    machine per side, decide at the close and fill at the next open, all-in, and the accumulator of
    `engine.sim.metrics_nb` bar by bar (its finish is shared)."""
    fee, slippage, init_cash, years = (float(x) for x in knobs)
    machines = {"entry": [False, -1], "exit": [False, -1]}  # [was_below, crossed_ago] per side

    def crossed(side, x, y):
        below, ago = machines[side]
        if np.isnan(x) or np.isnan(y):
            machines[side] = [False, -1]
            return False
        if x > y:
            if below:
                machines[side] = [below, ago + 1]
                return ago + 1 == 0
            return False
        machines[side] = [below or x < y, -1]
        return False

    acc = [0.0] * N_ACC
    acc[4] = init_cash  # peak
    cash, pos, prev, entry_px, entry_fees = init_cash, 0.0, init_cash, 0.0, 0.0
    want_entry = want_exit = False
    values = {}
    for i in range(len(close)):
        if i == trade_from:
            want_entry = want_exit = False
        if i >= trade_from:
            if want_entry and pos == 0.0:
                entry_px = open_[i] * (1.0 + slippage)
                spend = cash / (1.0 + fee)
                pos, entry_fees, cash = spend / entry_px, cash - spend, 0.0
            elif want_exit and pos > 0.0:
                exit_px = open_[i] * (1.0 - slippage)
                acq = pos * exit_px
                exit_fees = acq * fee
                cash = cash + (acq - exit_fees)
                acc[7], acc[8] = acc[7] + 1, acc[8] + 1
                acc[9] += pos * (exit_px - entry_px) - entry_fees - exit_fees > 0
                pos = 0.0
            value = cash + pos * close[i]
            r = 0.0 if value == prev else (value - prev) / prev
            acc[0], acc[1], acc[2] = acc[0] + 1, acc[1] + r, acc[2] + r * r
            acc[3] += r * r if r < 0 else 0.0
            if value > acc[4]:
                acc[4] = value
            elif value < acc[4] * (1.0 + acc[5]):
                acc[5] = value / acc[4] - 1.0
            acc[6] += pos != 0.0
            prev, values[i] = value, value
        want_entry, want_exit = crossed("entry", fast[i], slow[i]), crossed("exit", slow[i], fast[i])
    acc[7] += pos > 0.0
    metrics = np.empty(len(METRICS))
    acc_finish_nb(np.array(acc, dtype=np.float64), init_cash, prev, years, metrics)
    return metrics, np.array([values[i] for i in sample_idx])


@st.composite
def screens(draw):
    """Positive prices on a coarse tick (moving averages tie), NaNs in the averages, any start and samples."""
    n = draw(st.integers(3, 400))
    ticks = draw(st.lists(st.integers(-1, 1), min_size=n, max_size=n))
    close = 1_000.0 + np.cumsum(np.array(ticks, dtype=np.float64))
    open_ = np.r_[1_000.0, close[:-1]]
    windows = np.array(draw(st.lists(st.integers(1, 8), min_size=2, max_size=4, unique=True)), dtype=np.int64)
    mas = ma_matrix_nb(close, windows, draw(st.booleans()))
    for w, i in draw(st.lists(st.tuples(st.integers(0, len(windows) - 1), st.integers(0, n - 1)), max_size=4)):
        mas[w, i] = np.nan
    pairs = [(a, b) for a in range(len(windows)) for b in range(len(windows)) if a != b]
    trade_from = draw(st.integers(0, n - 2))
    sample_idx = np.array(sorted(draw(st.sets(st.integers(trade_from, n - 1), min_size=1))), dtype=np.int64)
    return open_, close, mas, np.array([a for a, _ in pairs]), np.array([b for _, b in pairs]), trade_from, sample_idx


@settings(max_examples=60, deadline=None)
@given(case=screens(), threads=st.sampled_from([1, 2]))
def test_the_screen_equals_a_plain_python_reference(case, threads):
    open_, close, mas, fast, slow, trade_from, sample_idx = case
    knobs = np.array([0.001, 0.0005, 1_000.0, 0.5])
    with numba_threads(threads):
        metrics, samples = ma_cross_screen_nb(open_, close, mas, fast, slow, knobs, trade_from, sample_idx)
    for j in range(len(fast)):
        want_metrics, want_samples = reference_screen(open_, close, mas[fast[j]], mas[slow[j]], knobs, trade_from,
                                                      sample_idx)
        assert np.array_equal(metrics[j], want_metrics, equal_nan=True)
        assert np.array_equal(samples[:, j], want_samples)


def test_vectorbt_batches_on_worker_processes_give_the_same_table(monkeypatch):
    import research.sweep as sweep

    bars = Bars.from_frame(shared_candles("binance_SOL-USDT_1h.parquet"))
    strategy = load_strategy("rsi_reversion")
    combos = list(strategy.grid_params({"window": [8, 14, 20], "lower": [25.0, 30.0], "upper": [70.0, 80.0]}))
    monkeypatch.setattr(sweep, "MEMORY_BUDGET_BYTES", len(bars) * 40 * 6)  # three columns per batch and worker
    monkeypatch.setattr(sweep, "POOL_MIN_WORK", 0)  # worker processes even for this small grid
    seen = []
    one = score_combos(strategy, bars, combos, COSTS, "1h", "vectorbt", workers=1)
    both = score_combos(strategy, bars, combos, COSTS, "1h", "vectorbt", workers=2,
                        progress=lambda done, total: seen.append(done))
    assert seen == [3, 6, 9, 12]  # four batches, reported in order
    pd.testing.assert_frame_equal(results_frame(strategy, combos, "SOL/USDT", one),
                                  results_frame(strategy, combos, "SOL/USDT", both), check_exact=True)
    assert np.array_equal(one.daily_values, both.daily_values)


def test_workers_must_be_positive():
    bars = Bars.from_frame(shared_candles("binance_SOL-USDT_1h.parquet"))
    strategy = load_strategy("sma_cross")
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        score_combos(strategy, bars, [strategy.params()], COSTS, "1h", workers=0)


def test_gauntlet_sweep_workers_option_writes_the_same_results(data_dir):
    from typer.testing import CliRunner

    from engine.ohlcv import SeriesKey, Store
    from research.cli import app

    Store().write(SeriesKey("binance", "ETH/USDT", "1h"), shared_candles("binance_ETH-USDT_1h.parquet"),
                  source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    args = ["sweep", "sma_cross", "--symbol", "ETH/USDT", "--param", "fast=5:25:5", "--param", "slow=30:90:30"]
    tables = []
    for workers in ("1", "2"):
        done = CliRunner().invoke(app, [*args, "--workers", workers])
        assert done.exit_code == 0, done.output
        folder = data_dir.parent / "reports" / done.output.split("run ", 1)[1].split()[0]
        tables.append(pd.read_parquet(folder / "results.parquet"))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
    refused = CliRunner().invoke(app, [*args, "--workers", "0"])
    assert refused.exit_code == 2 and "--workers" in refused.output


def test_worker_processes_start_from_a_script_without_a_main_guard(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text("import operator\nfrom research.parallel import ordered_map\n"
                      "print(list(ordered_map(operator.neg, [1, 2, 3], 2)))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[-1, -2, -3]"
