"""Every comparison with vectorbt names its engine (Rust for the portfolio simulation, numba for the
indicators ours equal bit for bit), and the built-in indicators equal vectorbt's own indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.strategy.indicators_nb import atr_nb, rolling_max_nb, rolling_min_nb, rsi_nb, sma_nb, true_range_nb
from engine.strategy.contract import load_strategy
from research.vbt_adapter import INDICATOR_ENGINE as ENGINE, PORTFOLIO_ENGINE, portfolio
from tests.conftest import shared_candles

BARS = shared_candles("binance_BTC-USDT_5m.parquet")  # outages and flat zero-volume candles
CLOSE, HIGH, LOW = (BARS[c].to_numpy() for c in ("close", "high", "low"))


def test_the_adapter_names_its_engines():
    bars = Bars.from_frame(shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"))
    strategy = load_strategy("sma_cross")
    pf = portfolio(bars, [strategy.signals(bars, strategy.params({"fast": 10, "slow": 50}))], Costs(), "3600s")
    assert (ENGINE, PORTFOLIO_ENGINE, pf.engine) == ("numba", "rust", "rust")


def test_vectorbts_default_engine_is_not_ours_which_is_why_we_name_it():
    assert vbt.settings["engine"] == "auto"  # vectorbt 1.2: Rust where installed
    rust = vbt.MA.run(CLOSE, 200, engine="rust").ma.to_numpy()
    numba = vbt.MA.run(CLOSE, 200, engine="numba").ma.to_numpy()
    assert np.array_equal(sma_nb(CLOSE, 200), numba, equal_nan=True)
    assert 1e-9 < np.nanmax(np.abs(rust - numba)) < 1e-5


@pytest.mark.parametrize("window", [3, 14, 100])
def test_built_in_indicators_equal_vectorbts_own(window):
    assert np.array_equal(rsi_nb(CLOSE, window, True),
                          vbt.RSI.run(CLOSE, window, ewm=True, engine=ENGINE).rsi.to_numpy(), equal_nan=True)
    atr = vbt.ATR.run(HIGH, LOW, CLOSE, window, ewm=False, engine=ENGINE)
    assert np.array_equal(atr_nb(HIGH, LOW, CLOSE, window, False), atr.atr.to_numpy(), equal_nan=True)
    assert np.array_equal(true_range_nb(HIGH, LOW, CLOSE), atr.tr.to_numpy(), equal_nan=True)
    assert np.array_equal(rolling_max_nb(HIGH, window),
                          pd.Series(HIGH).vbt.rolling_max(window, engine=ENGINE).to_numpy(), equal_nan=True)
    assert np.array_equal(rolling_min_nb(LOW, window),
                          pd.Series(LOW).vbt.rolling_min(window, engine=ENGINE).to_numpy(), equal_nan=True)
