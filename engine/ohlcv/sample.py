"""SYNTHETIC candles for the offline demo. This is invented data, not a record of any market.

Nothing here comes from an exchange: prices and volumes are drawn from a random model so the demo and
the tests can run without a network. The demo stores the series under the exchange name `synthetic`
(`SYNTHETIC_EXCHANGE`) so it can never be mistaken for, or merged with, real candles. For real candles
see `/work/shared/data` and `gauntlet data fetch`.

The model is meant to look like crypto spot data to a backtest, not to be a faithful market model:

* volatility clusters: a GARCH(1,1) variance with Student-t shocks (`sample_nb.log_returns_nb`);
* regimes alternate between ranges (mean reversion to the level where the range began, calmer) and
  trends (a constant drift, up or down, livelier), with random durations of days to weeks;
* starting levels are plausible per symbol (BTC 20,000-40,000, ETH 1,500-2,500, others 1-100);
* the market trades 24/7, so each open is the previous close; high and low are drawn from a Brownian
  bridge between open and close, so OHLC is consistent by construction;
* volume is in the base asset and grows with the absolute return;
* prices sit on a tick (0.01 for BTC and ETH) and volumes on 1e-5, so values survive CSV round trips;
* 3-5 short runs of candles are removed, like exchange outages.

Parameters are set in wall-clock time (durations in days, volatility per year), so every timeframe
shows the same market character. Same arguments, same frame (given the same NumPy version: NumPy may
change a generator's stream between releases). The default seed is a CRC-32 of the symbol, which is
stable across processes, unlike Python's salted `hash()`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.calendar import DAY_MS, YEAR_MS
from engine.ohlcv import to_ms
from engine.ohlcv.layout import SYNTHETIC_EXCHANGE, symbol_to_disk
from engine.ohlcv.sample_nb import log_returns_nb
from engine.ohlcv.schema import frame_from_arrays
from engine.ohlcv.timeframe import ceil_ms, timeframe_ms

__all__ = ["SYNTHETIC_EXCHANGE", "SYNTHETIC_SYMBOLS", "synthetic_candles"]

SYNTHETIC_SYMBOLS = ("BTC/USDT", "ETH/USDT")

_HOUR_MS = 3_600_000

_T_DOF = 5  # Student-t shocks: fat tails, still a finite fourth moment
_GARCH_ALPHA_1H, _GARCH_PERSISTENCE_1H = 0.06, 0.98  # rescaled to other bar lengths in `_garch`
_REGIME_MIN_DAYS, _RANGE_MEAN_DAYS, _TREND_MEAN_DAYS = 3, 21, 18
_TREND_DRIFT_PER_YEAR = (0.8, 3.0)  # |log drift| of a trend, annualized: +-6 % to +-20 % over 3 weeks
_RANGE_HALF_LIFE_DAYS = 3  # how fast a range pulls back towards the level where it began
_RANGE_VOL, _TREND_VOL = 0.8, 1.2  # volatility multipliers per regime
_OUTAGE_MS = (15 * 60_000, 4 * _HOUR_MS)
_VOLUME_NOISE = 0.3  # lognormal sigma
_VOLUME_DECIMALS = 5


@dataclass(frozen=True, slots=True)
class _Profile:
    """What distinguishes one invented market from another: price level, volatility, turnover."""

    start_px: tuple[float, float]  # the first open is drawn log-uniformly from this range
    annual_vol: float
    hourly_notional: float  # average quote volume per hour
    px_decimals: int  # the tick is 10**-px_decimals: about 1e-5 of the price or finer, as on Binance


_PROFILES = {
    "BTC": _Profile((20_000.0, 40_000.0), 0.55, 5e7, 2),
    "ETH": _Profile((1_500.0, 2_500.0), 0.70, 2.5e7, 2),
}
_OTHER = _Profile((1.0, 100.0), 0.90, 2e6, 5)


def synthetic_candles(
    symbol: str = "BTC/USDT",
    timeframe: str = "1h",
    start: str = "2023-01-01",
    days: int = 730,
    seed: int | None = None,
) -> pd.DataFrame:
    """`days` of invented `timeframe` candles from `start` (UTC) as a cache frame; see the module doc."""
    symbol_to_disk(symbol)  # validates BASE/QUOTE
    step = timeframe_ms(timeframe)
    first_ms, n = ceil_ms(to_ms(start), timeframe), days * DAY_MS // step
    if n < 1:
        raise ValueError(f"synthetic_candles: {days} day(s) hold no whole {timeframe} candle")
    rng = np.random.default_rng(zlib.crc32(symbol.encode()) if seed is None else seed)
    profile = _PROFILES.get(symbol.split("/")[0], _OTHER)
    drift, pull_rate, vol_mult, segment_start = _regimes(rng, n, step)
    z = rng.standard_t(_T_DOF, n) * np.sqrt((_T_DOF - 2) / _T_DOF)
    r, sd = log_returns_nb(z, drift, pull_rate, vol_mult, segment_start, _garch(step, profile.annual_vol))
    values = _candles(rng, r, sd, profile, step)
    keep = _outages(rng, n, step)
    ts_ms = first_ms + np.arange(n, dtype=np.int64) * step
    return frame_from_arrays(ts_ms[keep], {name: column[keep] for name, column in values.items()})


def _garch(step: int, annual_vol: float) -> np.ndarray:
    """(omega, alpha, beta) for one bar of `step` ms, so that shocks decay at the same wall-clock pace
    on every timeframe and the unconditional variance matches `annual_vol`."""
    ratio = step / _HOUR_MS
    persistence = _GARCH_PERSISTENCE_1H**ratio
    # alpha shrinks on shorter bars, sub-linearly. With t(5) shocks (E z**4 = 9) the returns keep a finite
    # fourth moment while persistence**2 + 8 alpha**2 < 1; beta = persistence - alpha stays >= alpha.
    alpha = min(_GARCH_ALPHA_1H * ratio**0.6, 0.9 * np.sqrt((1.0 - persistence**2) / 8.0), 0.5 * persistence)
    bar_var = annual_vol**2 * step / YEAR_MS
    return np.array([bar_var * (1.0 - persistence), alpha, persistence - alpha])


def _regimes(rng: np.random.Generator, n: int, step: int) -> tuple[np.ndarray, ...]:
    """Per-bar drift, pull rate, volatility multiplier and segment-start flags of alternating regimes."""
    min_bars = max(1, _REGIME_MIN_DAYS * DAY_MS // step)
    count = n // min_bars + 2  # every segment is >= min_bars long, so these cover n bars
    is_trend = (np.arange(count) % 2) == rng.integers(0, 2)
    mean_days = np.where(is_trend, _TREND_MEAN_DAYS, _RANGE_MEAN_DAYS)
    days = _REGIME_MIN_DAYS + rng.exponential(1.0, count) * (mean_days - _REGIME_MIN_DAYS)
    lengths = np.maximum(min_bars, np.round(days * DAY_MS / step)).astype(np.int64)
    trend_drift = rng.choice([-1.0, 1.0], count) * rng.uniform(*_TREND_DRIFT_PER_YEAR, count) * step / YEAR_MS
    segment = np.repeat(np.arange(count), lengths)[:n]
    trending = is_trend[segment]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    segment_start = np.zeros(n, dtype=np.bool_)
    segment_start[starts[starts < n]] = True
    pull = 1.0 - 0.5 ** (step / (_RANGE_HALF_LIFE_DAYS * DAY_MS))
    return (
        np.where(trending, trend_drift[segment], 0.0),
        np.where(trending, 0.0, pull),
        np.where(trending, _TREND_VOL, _RANGE_VOL),
        segment_start,
    )


def _candles(rng: np.random.Generator, r: np.ndarray, sd: np.ndarray, profile: _Profile, step: int) -> dict:
    """OHLCV columns on a price tick from log returns `r` with per-bar standard deviations `sd`."""
    n = len(r)
    log_open0 = rng.uniform(*np.log(profile.start_px))
    log_close = log_open0 + np.cumsum(r)
    log_open = np.concatenate(([log_open0], log_close[:-1]))
    # Extremes of a Brownian bridge from 0 to r with variance sd**2, by inverting
    # P(max >= m) = exp(-2 m (m - r) / sd**2); the minimum is the mirror image.
    spread = np.sqrt(r * r - 2.0 * sd * sd * np.log(1.0 - rng.random((2, n))))
    up, down = (r + spread[0]) / 2.0, (r - spread[1]) / 2.0
    decimals = profile.px_decimals
    close = _on_tick(np.exp(log_close), decimals)
    open_ = np.concatenate((_on_tick(np.exp([log_open0]), decimals), close[:-1]))
    high = np.maximum(_on_tick(np.exp(log_open + up), decimals), np.maximum(open_, close))
    low = np.minimum(_on_tick(np.exp(log_open + down), decimals), np.minimum(open_, close))
    activity = 0.3 + 0.7 * np.abs(r) / max(float(np.mean(np.abs(r))), 1e-300)
    noise = rng.lognormal(-_VOLUME_NOISE**2 / 2, _VOLUME_NOISE, n)
    qty = profile.hourly_notional * (step / _HOUR_MS) / np.exp(log_close) * activity * noise
    volume = np.maximum(np.round(qty * 10.0**_VOLUME_DECIMALS), 1.0) / 10.0**_VOLUME_DECIMALS
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _on_tick(px: np.ndarray, decimals: int) -> np.ndarray:
    """Nearest tick, at least one tick; dividing a whole number by 10**decimals yields the double nearest
    the decimal, which prints back as that short decimal."""
    return np.maximum(np.round(px * 10.0**decimals), 1.0) / 10.0**decimals


def _outages(rng: np.random.Generator, n: int, step: int) -> np.ndarray:
    """Rows to keep: 3-5 runs of 15 min to 4 h (at least one candle) removed, one per equal slice of the
    series, never at either end and never touching each other, so each shows as its own gap."""
    keep = np.ones(n, dtype=np.bool_)
    count = int(rng.integers(3, 6))
    slot = n // count
    lengths = np.maximum(1, np.round(rng.uniform(*_OUTAGE_MS, count) / step)).astype(np.int64)
    offsets = rng.random(count)
    for i in range(count):
        room = slot - int(lengths[i]) - 3  # 2 kept rows before the run and 2 after it, within the slice
        if room >= 1:  # a series too short for this outage simply has fewer
            begin = i * slot + 2 + int(offsets[i] * room)
            keep[begin:begin + lengths[i]] = False
    return keep
