"""The sweep: the fused kernel equals vectorbt order for order, metrics equal QuantStats, runs are recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.strategy.indicators_nb import ma_nb
from engine.ohlcv import SeriesKey, Store
from engine.strategy.contract import load_strategy
from engine.sim.metrics_nb import METRICS, metrics_from_values_nb, window_years
from research.screen_nb import ma_cross_one_nb
from research.sweep import SweepSpec, score_combos
from research.sweep_run import run_sweep, write_sweep
from research.vbt_adapter import portfolio
from tests.conftest import shared_candles

COSTS = Costs(fee_rate=0.001, slippage_rate=0.0005, init_cash=10_000.0)


def kernel_run(bars: Bars, fast: int, slow: int, ewm: bool, costs: Costs = COSTS):
    n = len(bars)
    metrics, values, orders = np.empty(len(METRICS)), np.empty(n), np.empty((20_000, 5))
    count = ma_cross_one_nb(bars.open, bars.close, ma_nb(bars.close, fast, ewm), ma_nb(bars.close, slow, ewm),
                            costs.fee_rate, costs.slippage_rate, costs.init_cash, n / 8760.0, 0, np.arange(n), metrics,
                            values, orders)
    return metrics, values, orders[:count]


@pytest.mark.parametrize("name, file, pairs", [
    ("sma_cross", "binance_BTC-USDT_1m.parquet", [(5, 20), (10, 30), (50, 200)]),
    ("sma_cross", "binance_ETH-USDT_5m.parquet", [(10, 40), (20, 100)]),     # outages and flat candles
    ("ema_cross", "binance_BTC-USDT_1h.parquet", [(12, 26), (20, 100)]),     # 2017-2024, 28 gaps
])
def test_fused_kernel_equals_vectorbt_order_for_order_on_real_candles(name, file, pairs):
    bars = Bars.from_frame(shared_candles(file))
    strategy = load_strategy(name)
    params = [strategy.params({"fast": f, "slow": s}) for f, s in pairs]
    pf = portfolio(bars, [strategy.signals(bars, p) for p in params], COSTS, "60s")
    records = pf.orders.records_arr
    for col, p in enumerate(params):
        _, values, orders = kernel_run(bars, p.fast, p.slow, strategy.module.SCREEN["ewm"])
        mine = records[records["col"] == col]
        assert len(orders) == len(mine) > 10
        np.testing.assert_array_equal(orders[:, 0], mine["idx"])                          # same bars
        np.testing.assert_array_equal(orders[:, 1], np.where(mine["side"] == 0, 1.0, -1.0))  # same sides
        np.testing.assert_allclose(orders[:, 2:], np.column_stack([mine["size"], mine["price"], mine["fees"]]),
                                   rtol=1e-9)
        np.testing.assert_allclose(values, pf.value().to_numpy()[:, col], rtol=1e-9)


def test_metrics_agree_with_quantstats_on_the_same_returns():
    frame = shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet")
    bars = Bars.from_frame(frame)
    strategy = load_strategy("sma_cross")
    pf = portfolio(bars, [strategy.signals(bars, strategy.params({"fast": 10, "slow": 50}))], COSTS, "3600s")
    value, position = pf.value().to_numpy()[:, 0], pf.assets().to_numpy()[:, 0]
    ours = dict(zip(METRICS, metrics_from_values_nb(value, position, COSTS.init_cash, len(bars) / 8760.0,
                                                    np.zeros(0, bool), np.zeros(0)), strict=True))
    returns = pd.Series(np.r_[value[0] / COSTS.init_cash - 1, value[1:] / value[:-1] - 1],
                        index=frame.index.tz_convert(None))
    assert ours["sharpe"] == pytest.approx(qs.stats.sharpe(returns, periods=8760), rel=1e-9)
    assert ours["sortino"] == pytest.approx(qs.stats.sortino(returns, periods=8760), rel=1e-9)
    assert ours["cagr"] == pytest.approx(qs.stats.cagr(returns, periods=8760), rel=1e-9)
    assert ours["max_drawdown"] == pytest.approx(qs.stats.max_drawdown(returns), rel=1e-9)
    assert ours["calmar"] == pytest.approx(qs.stats.calmar(returns, periods=8760), rel=1e-9)
    assert ours["total_return"] == pytest.approx(qs.stats.comp(returns), rel=1e-9)
    assert window_years(bars.ts_ms, 3_600_000) == pytest.approx(len(bars) / 8760.0, rel=1e-15)  # 8,760 bars a year


@pytest.mark.parametrize("name", ["sma_cross", "ema_cross"])
def test_both_paths_give_the_same_table(name):
    bars = Bars.from_frame(shared_candles("binance_ETH-USDT_1h.parquet"))
    strategy = load_strategy(name)
    combos = list(strategy.grid_params({"fast": [5, 10, 20], "slow": [30, 60, 120]}))
    for window in (None, (800, 3000)):  # a window trades only inside it, warmed by the bars before
        fused = score_combos(strategy, bars, combos, COSTS, "1h", "auto", window=window)
        vectorbt = score_combos(strategy, bars, combos, COSTS, "1h", "vectorbt", window=window)
        np.testing.assert_allclose(fused.metrics, vectorbt.metrics, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fused.daily_values, vectorbt.daily_values, rtol=1e-9)
    assert fused.daily_values.shape[0] == len(np.unique(bars.ts_ms[800:3000] // 86_400_000))


def test_vectorbt_batches_do_not_change_results(monkeypatch):
    import research.sweep as sweep

    bars = Bars.from_frame(shared_candles("binance_SOL-USDT_1h.parquet"))
    strategy = load_strategy("rsi_reversion")
    combos = list(strategy.grid_params({"window": [8, 14, 20], "lower": [25.0, 30.0], "upper": [70.0]}))
    whole = score_combos(strategy, bars, combos, COSTS, "1h", "vectorbt")
    monkeypatch.setattr(sweep, "MEMORY_BUDGET_BYTES", len(bars) * 40 * 2)  # two columns per batch
    batched = score_combos(strategy, bars, combos, COSTS, "1h", "vectorbt")
    np.testing.assert_array_equal(whole.metrics, batched.metrics)


@pytest.fixture
def cache(tmp_path):
    store = Store(tmp_path / "data")
    for symbol, file in (("BTC/USDT", "binance_BTC-USDT_1h_2020-12_2021-07.parquet"),
                         ("ETH/USDT", "binance_ETH-USDT_1h.parquet")):
        store.write(SeriesKey("binance", symbol, "1h"), shared_candles(file), source={"kind": "test"},
                    obtained_ms=4_102_444_800_000)
    return store


def test_a_sweep_run_writes_results_record_and_heatmaps(cache, tmp_path):
    spec = SweepSpec("sma_cross", "binance", ("BTC/USDT", "ETH/USDT"), "1h", start="2021-01-01", end="2021-07-01",
                     params=("fast=5:25:5", "slow=30:90:30"), costs=COSTS)
    outcome = run_sweep(spec, store=cache)
    folder = write_sweep(outcome, ["gauntlet", "sweep"], tmp_path / "reports")
    results = pd.read_parquet(folder / "results.parquet")
    assert list(results.columns) == ["symbol", "fast", "slow", *METRICS]
    assert len(results) == 2 * 15 and results.groupby("symbol")["sharpe"].is_monotonic_decreasing.all()
    record = json.loads((folder / "run.json").read_text())
    assert record["run_id"] == folder.name and folder.name.split("-")[1:3] == ["sma_cross", folder.name.split("-")[2]]
    assert {d["series"] for d in record["data"]} == {"binance BTC/USDT 1h", "binance ETH/USDT 1h"}
    assert all(len(d["sha256"]) == 64 and d["files"] for d in record["data"])
    assert record["packages"]["vectorbt"].startswith("1.2") and "git_commit" in record
    evidence = record["results"]["evidence"]["BTC/USDT"]
    assert 0 <= evidence["dsr"] <= 1 and 0 <= evidence["pbo"] <= 1 and evidence["trials"] == 15
    assert len(record["results"]["confirmed_by_vectorbt"]) == 6 and (folder / "heatmap_BTC-USDT.html").is_file()
    assert folder.name in (tmp_path / "reports" / "index.html").read_text()


@pytest.mark.parametrize("spec, message", [
    (dict(strategy="nope"), "unknown strategy 'nope'"),
    (dict(params=("fats=1:5:1",)), "sma_cross has no parameter fats"),
    (dict(params=("fast=1.5",)), "parameter fast of sma_cross is int; got '1.5'"),
    (dict(start="2021-03-01", end="2021-02-01"), "empty date range"),
    (dict(symbols=("DOGE/USDT",)), "binance DOGE/USDT 1h is not in the cache"),
    (dict(start="2021-07-10"), r"bars between 2021-07-10 and the end; the sweep needs at least 403"),
    (dict(objective="luck"), "unknown objective 'luck'"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(cache, tmp_path, spec, message):
    base = dict(strategy="sma_cross", exchange="binance", symbols=("BTC/USDT",), timeframe="1h")
    with pytest.raises((ValueError, LookupError), match=message):
        run_sweep(SweepSpec(**{**base, **spec}), store=cache)
    assert not (tmp_path / "reports").exists()


def test_strategies_without_a_kernel_sweep_through_vectorbt_with_stops(cache):
    spec = SweepSpec("atr_trend", "binance", ("BTC/USDT",), "1h", params=("window=20:60:20", "atr_mult=2.0,3.0"),
                     costs=COSTS)
    results = run_sweep(spec, store=cache).results
    assert len(results) == 6 and (results["trades"] > 0).all()
