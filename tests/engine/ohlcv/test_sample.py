"""synthetic_candles: invented data that must still pass every check a real series passes."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ohlcv import sample
from engine.ohlcv.quality import check
from engine.ohlcv.sample import SYNTHETIC_EXCHANGE, SYNTHETIC_SYMBOLS, synthetic_candles
from engine.ohlcv.sample_nb import log_returns_nb
from engine.ohlcv.schema import ts_ms_of
from engine.ohlcv.timeframe import timeframe_ms

YEAR_MS = 365 * 86_400_000


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return synthetic_candles()


def consecutive_log_returns(frame: pd.DataFrame, timeframe: str) -> np.ndarray:
    """close-to-close log returns, skipping the jumps across outages."""
    consecutive = np.diff(ts_ms_of(frame)) == timeframe_ms(timeframe)
    return np.diff(np.log(frame["close"].to_numpy()))[consecutive]


def test_is_labelled_synthetic() -> None:
    assert SYNTHETIC_EXCHANGE == "synthetic"
    assert SYNTHETIC_SYMBOLS == ("BTC/USDT", "ETH/USDT")
    assert "invented data, not a record of any market" in sample.__doc__


def test_same_arguments_same_frame_and_symbols_differ(btc: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(synthetic_candles(), btc, check_exact=True)
    eth = synthetic_candles("ETH/USDT")  # a different default seed, not just a rescaled BTC path
    assert abs(np.corrcoef(consecutive_log_returns(eth.iloc[:500], "1h"),
                           consecutive_log_returns(btc.iloc[:500], "1h"))[0, 1]) < 0.5
    assert not synthetic_candles(seed=1).equals(synthetic_candles(seed=2))


def test_covers_the_requested_period(btc: pd.DataFrame) -> None:
    assert btc.index[0] == pd.Timestamp("2023-01-01", tz="UTC")
    assert btc.index[-1] == pd.Timestamp("2024-12-30 23:00", tz="UTC")  # 730 days of hours
    assert 17_520 - 5 * 4 <= len(btc) < 17_520  # minus a few outages of at most 4 h


@pytest.mark.parametrize(("symbol", "timeframe", "days"), [
    ("BTC/USDT", "1h", 730), ("ETH/USDT", "1h", 730), ("SOL/USDT", "1h", 365),
    ("BTC/USDT", "5m", 60), ("ETH/USDT", "4h", 730), ("BTC/USDT", "1d", 730), ("ETH/USDT", "1w", 730),
])
def test_passes_the_quality_check_with_a_few_gaps(symbol: str, timeframe: str, days: int) -> None:
    frame = synthetic_candles(symbol, timeframe, days=days)
    report = check(frame, timeframe)
    assert report.ok, [issue.describe() for issue in report.errors]
    assert 3 <= len(report.gaps) <= 5
    assert not [issue for issue in report.issues if issue.kind == "zero_volume_run"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), symbol=st.sampled_from(["BTC/USDT", "ETH/USDT", "XRP/USDT"]),
       timeframe=st.sampled_from(["15m", "1h", "4h"]))
def test_ohlc_is_consistent_for_any_seed(seed: int, symbol: str, timeframe: str) -> None:
    frame = synthetic_candles(symbol, timeframe, days=120, seed=seed)
    o, h, lo, c, v = (frame[name].to_numpy() for name in ("open", "high", "low", "close", "volume"))
    assert (lo > 0).all() and (v > 0).all()
    assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
    consecutive = np.diff(ts_ms_of(frame)) == timeframe_ms(timeframe)
    np.testing.assert_array_equal(o[1:][consecutive], c[:-1][consecutive])  # 24/7: open = previous close
    assert 3 <= len(check(frame, timeframe).gaps) <= 5


def test_values_sit_on_ticks_and_survive_text(btc: pd.DataFrame) -> None:
    for name in ("open", "high", "low", "close"):
        column = btc[name].to_numpy()
        assert all(float(f"{x:.2f}") == x for x in column.tolist()), name
    assert all(float(f"{x:.5f}") == x for x in btc["volume"].to_numpy().tolist())
    small = synthetic_candles("XRP/USDT", days=30)  # a 1-100 market quotes 5 decimals
    assert all(float(f"{x:.5f}") == x for x in small[["open", "high", "low", "close"]].to_numpy().ravel().tolist())


@pytest.mark.parametrize(("symbol", "low", "high"), [
    ("BTC/USDT", 20_000, 40_000), ("ETH/USDT", 1_500, 2_500), ("SOL/USDT", 1, 100), ("DOGE/USDT", 1, 100),
])
def test_starts_at_a_plausible_level(symbol: str, low: float, high: float) -> None:
    assert low <= synthetic_candles(symbol, days=1)["open"].iloc[0] <= high


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT", "ADA/USDT"])
def test_volatility_is_plausible_and_clusters(symbol: str) -> None:
    frame = synthetic_candles(symbol)
    r = consecutive_log_returns(frame, "1h")
    annual_vol = r.std() * np.sqrt(YEAR_MS / timeframe_ms("1h"))
    assert 0.20 < annual_vol < 1.50
    assert np.corrcoef(np.abs(r[:-1]), np.abs(r[1:]))[0, 1] > 0.05


def test_volume_grows_with_the_absolute_return(btc: pd.DataFrame) -> None:
    consecutive = np.diff(ts_ms_of(btc)) == timeframe_ms("1h")
    r = consecutive_log_returns(btc, "1h")
    volume = btc["volume"].to_numpy()[1:][consecutive]
    assert np.corrcoef(np.abs(r), volume)[0, 1] > 0.3


def test_trends_and_ranges_alternate(btc: pd.DataFrame) -> None:
    # Monthly moves are wider than pure noise at this volatility would give (trends), yet some months go
    # nowhere (ranges): both tails of the 30-day move distribution are populated.
    monthly = np.abs(np.diff(np.log(btc["close"].resample("30D").last().to_numpy())))
    assert monthly.max() > 0.20 and monthly.min() < 0.05


def test_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        synthetic_candles("btcusdt")
    with pytest.raises(ValueError, match="no whole 1w candle"):
        synthetic_candles(timeframe="1w", days=3)
    with pytest.raises(ValueError, match="unknown timeframe"):
        synthetic_candles(timeframe="1M")


def test_fast_enough_for_the_demo() -> None:
    synthetic_candles(days=1)  # load or compile the numba kernel first
    two_years_1h = min(_timed(lambda: synthetic_candles()) for _ in range(3))
    one_year_1m = min(_timed(lambda: synthetic_candles(timeframe="1m", days=365)) for _ in range(2))
    assert two_years_1h < 0.2, f"2 years of 1h took {two_years_1h:.3f} s"
    assert one_year_1m < 2.0, f"1 year of 1m took {one_year_1m:.3f} s"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- the numba kernel against a slow reference ---------------------------------------------------------

def log_returns_reference(z, drift, pull_rate, vol_mult, segment_start, garch):
    omega, alpha, beta = garch
    h, level, anchor, r, sd = omega / (1 - alpha - beta), 0.0, 0.0, [], []
    for t in range(len(z)):
        anchor = level if segment_start[t] else anchor
        sd.append(h**0.5 * vol_mult[t])
        r.append(drift[t] - pull_rate[t] * (level - anchor) + sd[-1] * z[t])
        level += r[-1]
        h = omega + alpha * h * z[t] ** 2 + beta * h
    return r, sd


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300))
def test_kernel_equals_reference(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    args = (rng.standard_normal(n), rng.normal(0, 1e-3, n), rng.uniform(0, 0.1, n) * (rng.random(n) < 0.5),
            rng.uniform(0.5, 1.5, n), rng.random(n) < 0.05, np.array([1e-6, 0.05, 0.9]))
    r, sd = log_returns_nb(*args)
    r_ref, sd_ref = log_returns_reference(*args)
    np.testing.assert_allclose(r, r_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sd, sd_ref, rtol=1e-12, atol=0)
