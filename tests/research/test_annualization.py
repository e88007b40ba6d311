"""Annualization on data with gaps: CAGR compounds over calendar time, ratios scale by the observed bars
per year, and every path (fused kernel, vectorbt, walk-forward, replay) uses that one choice."""

from __future__ import annotations

import numpy as np
import pytest
import quantstats as qs
import pandas as pd

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.sim.metrics_nb import METRICS, YEAR_MS, metrics_from_values_nb, window_years
from engine.strategy.contract import load_strategy
from research.sweep import score_combos
from tests.conftest import shared_candles

COSTS = Costs(fee_rate=0.001, slippage_rate=0.0005, init_cash=10_000.0)
HOUR_MS = 3_600_000


def sparse_bars() -> Bars:
    """Real BTC/USDT 1h candles of 2024 with every second UTC week missing: half the rows, the same span."""
    frame = shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet")
    week = (frame.index.as_unit("ms").asi8 // (7 * 86_400_000)) % 2
    return Bars.from_frame(frame[week == 0])


def test_window_years_is_the_span_from_first_open_to_last_close():
    ts = np.array([0, HOUR_MS, 10 * HOUR_MS])  # 8 hours missing
    assert window_years(ts, HOUR_MS) == 11 * HOUR_MS / YEAR_MS
    assert np.isnan(window_years(ts[:0], HOUR_MS))


def test_cagr_is_calendar_time_and_sharpe_uses_observed_bars_per_year_on_gappy_data():
    bars = sparse_bars()
    years = window_years(bars.ts_ms, HOUR_MS)
    assert len(bars) / years < 0.55 * 8760  # about half the nominal rows per year were observed
    rng = np.random.default_rng(7)
    value = COSTS.init_cash * np.cumprod(1.0 + rng.normal(2e-4, 5e-3, len(bars)))
    ours = dict(zip(METRICS, metrics_from_values_nb(value, np.ones(len(bars)), COSTS.init_cash, years,
                                                    np.zeros(0, bool), np.zeros(0)), strict=True))
    assert ours["cagr"] == pytest.approx((value[-1] / COSTS.init_cash) ** (YEAR_MS / (bars.ts_ms[-1] + HOUR_MS - bars.ts_ms[0])) - 1,
                                         rel=1e-12)
    returns = pd.Series(np.r_[value[0] / COSTS.init_cash, value[1:] / value[:-1]] - 1.0)
    observed = len(bars) / years
    assert ours["sharpe"] == pytest.approx(qs.stats.sharpe(returns, periods=observed), rel=1e-9)
    assert ours["sortino"] == pytest.approx(qs.stats.sortino(returns, periods=observed), rel=1e-9)
    assert ours["sharpe"] < 0.75 * qs.stats.sharpe(returns, periods=8760)  # by row count it would read sqrt(2) higher


@pytest.mark.parametrize("engine", ["auto", "vectorbt"])
def test_sweep_scores_gappy_data_on_calendar_time(engine):
    bars, strategy = sparse_bars(), load_strategy("sma_cross")
    combos = [strategy.params({"fast": 10, "slow": 50}), strategy.params({"fast": 20, "slow": 100})]
    lo, hi = 500, len(bars)
    scores = score_combos(strategy, bars, combos, COSTS, "1h", engine, window=(lo, hi), every_bar=True)
    years = (bars.ts_ms[hi - 1] + HOUR_MS - bars.ts_ms[lo]) / YEAR_MS
    cagr = (scores.daily_values[-1] / COSTS.init_cash) ** (1 / years) - 1
    np.testing.assert_allclose(scores.metrics[:, METRICS.index("cagr")], cagr, rtol=1e-9)
    value = scores.daily_values[:, 0]
    returns = pd.Series(np.r_[value[0] / COSTS.init_cash, value[1:] / value[:-1]] - 1.0)
    assert scores.metrics[0, METRICS.index("sharpe")] == pytest.approx(
        qs.stats.sharpe(returns, periods=(hi - lo) / years), rel=1e-9)


def test_explore_annualizes_volatility_by_the_observed_bars():
    from research.explore import returns_summary

    frame = shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet")
    week = (frame.index.as_unit("ms").asi8 // (7 * 86_400_000)) % 2
    sparse = frame[week == 0]
    summary = returns_summary(sparse, "1h")["value"]
    observed = len(sparse) / window_years(sparse.index.as_unit("ms").asi8, HOUR_MS)
    assert summary["annual_volatility"] == pytest.approx(summary["std"] * np.sqrt(observed), rel=1e-12)
    assert observed < 0.55 * 8760
