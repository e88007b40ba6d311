"""The indicator kernels equal vectorbt's canonical indicators bit for bit (its numba engine), on real candles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from engine.strategy.indicators_nb import (atr_nb, crossed_above_nb, crossed_above_value_nb, crossed_below_value_nb, ema_nb,
                                  rolling_max_nb, rolling_min_nb, rsi_nb, sma_nb)
from tests.conftest import shared_candles

BARS = shared_candles("binance_BTC-USDT_5m.parquet")  # has outages and flat zero-volume candles
CLOSE, HIGH, LOW = (BARS[c].to_numpy() for c in ("close", "high", "low"))


@pytest.mark.parametrize("window", [2, 14, 50, 400])
def test_moving_averages_rsi_and_atr_equal_vectorbt(window):
    assert np.array_equal(sma_nb(CLOSE, window), vbt.MA.run(CLOSE, window, engine="numba").ma.to_numpy(), equal_nan=True)
    assert np.array_equal(ema_nb(CLOSE, window), vbt.MA.run(CLOSE, window, ewm=True, engine="numba").ma.to_numpy(),
                          equal_nan=True)
    assert np.array_equal(rsi_nb(CLOSE, window, False), vbt.RSI.run(CLOSE, window, engine="numba").rsi.to_numpy(),
                          equal_nan=True)
    assert np.array_equal(atr_nb(HIGH, LOW, CLOSE, window, True),
                          vbt.ATR.run(HIGH, LOW, CLOSE, window, engine="numba").atr.to_numpy(), equal_nan=True)


@pytest.mark.parametrize("fast, slow", [(5, 20), (10, 30), (50, 200)])
def test_crossings_equal_ma_crossed_above_and_below(fast, slow):
    f, s = vbt.MA.run(CLOSE, fast, engine="numba"), vbt.MA.run(CLOSE, slow, engine="numba")
    assert np.array_equal(crossed_above_nb(sma_nb(CLOSE, fast), sma_nb(CLOSE, slow)), f.ma_crossed_above(s).to_numpy())
    assert np.array_equal(crossed_above_nb(sma_nb(CLOSE, slow), sma_nb(CLOSE, fast)), f.ma_crossed_below(s).to_numpy())
    rsi = vbt.RSI.run(CLOSE, fast, engine="numba")
    assert np.array_equal(crossed_below_value_nb(rsi_nb(CLOSE, fast, False), 30.0), rsi.rsi_crossed_below(30).to_numpy())
    assert np.array_equal(crossed_above_value_nb(rsi_nb(CLOSE, fast, False), 70.0), rsi.rsi_crossed_above(70).to_numpy())


def test_crossing_keeps_vectorbts_tie_rule():
    a = np.array([1.0, 0.0, 1.0, 1.0, 2.0, 0.5, np.nan, 2.0, 0.0, 2.0])
    b = np.ones(10)
    assert np.array_equal(crossed_above_nb(a, b), pd.Series(a).vbt.crossed_above(b, engine="numba").to_numpy())
    assert crossed_above_nb(a, b).tolist() == [False, False, False, False, True, False, False, False, False, True]


def test_rolling_extremes_equal_pandas():
    for window in (1, 3, 20):
        assert np.array_equal(rolling_max_nb(HIGH, window), pd.Series(HIGH).rolling(window).max().to_numpy(), equal_nan=True)
        assert np.array_equal(rolling_min_nb(LOW, window), pd.Series(LOW).rolling(window).min().to_numpy(), equal_nan=True)
