"""resample: real Binance aggregates as golden data, plus properties against a slow dict-grouping reference."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ohlcv.resample import resample
from engine.ohlcv.schema import VALUE_COLUMNS, frame_from_arrays, ts_ms_of
from tests.conftest import shared_candles

MINUTE = 60_000
BASE_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
PRICES = ["open", "high", "low", "close"]


def assert_matches_exchange(ours: pd.DataFrame, theirs: pd.DataFrame, skip_volume: tuple[str, ...] = ()) -> None:
    """OHLC bit-identical and volume within 1e-9 relative on the open times both series have."""
    shared = ours.index.intersection(theirs.index)
    a, b = ours.loc[shared], theirs.loc[shared]
    pd.testing.assert_frame_equal(a[PRICES], b[PRICES], check_exact=True)
    keep = ~shared.isin(pd.DatetimeIndex(skip_volume, tz="UTC"))
    np.testing.assert_allclose(a["volume"].to_numpy()[keep], b["volume"].to_numpy()[keep], rtol=1e-9, atol=0)


# -- real data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "name"), [
    ("15m", "binance_BTC-USDT_15m.parquet"),
    ("1h", "binance_BTC-USDT_1h_2024-01_2024-09.parquet"),
    ("4h", "binance_BTC-USDT_4h.parquet"),
    ("1d", "binance_BTC-USDT_1d.parquet"),
])
def test_5m_reproduces_binance_higher_timeframes_2024(target: str, name: str) -> None:
    five = shared_candles("binance_BTC-USDT_5m_2024-01_2024-09.parquet")
    ours, theirs = resample(five, "5m", target), shared_candles(name)
    assert_matches_exchange(ours, theirs)
    # The bundle has no gaps: we emit every exchange candle, plus at most the last one, which the 5m
    # file (downloaded a little later) completes while the coarser file had dropped it as in progress.
    assert theirs.index.difference(ours.index).empty
    assert len(ours.index.difference(theirs.index)) <= 1
    assert ours.index.difference(theirs.index).isin(ours.index[-1:]).all()


def test_5m_to_1h_with_outages_drops_the_partial_hours_binance_keeps() -> None:
    five = shared_candles("binance_BTC-USDT_5m.parquet")
    ours, theirs = resample(five, "5m", "1h"), shared_candles("binance_BTC-USDT_1h_2020-12_2021-07.parquet")
    partial = pd.DatetimeIndex(["2020-12-21 14:00", "2021-02-11 03:00", "2021-03-06 03:00",
                                "2021-04-20 04:00", "2021-04-25 04:00", "2021-04-25 08:00"], tz="UTC").as_unit("ms")
    assert ours.index.difference(theirs.index).empty  # every hour we emit is a real exchange hour
    assert not ours.index.isin(partial).any()
    pd.testing.assert_index_equal(theirs.index.difference(ours.index), partial, check_names=False)
    # Binance's 1h volume is 1-8 % above the sum of its 5m candles in these three hours (README quirk).
    assert_matches_exchange(ours, theirs, skip_volume=("2021-04-22 02:00", "2021-04-23 01:00", "2021-04-23 02:00"))
    assert ours.index[-1] == pd.Timestamp("2021-07-17 20:00", tz="UTC")  # trailing 21:00 hour is incomplete


def test_daily_to_weekly_buckets_start_on_monday() -> None:
    daily = shared_candles("binance_BTC-USDT_1d.parquet")  # 2024-01-01 (a Monday) -> 2024-09-05 (a Thursday)
    weekly = resample(daily, "1d", "1w")
    assert (weekly.index.dayofweek == 0).all()
    assert weekly.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert weekly.index[-1] == pd.Timestamp("2024-08-26", tz="UTC")  # the week of 2024-09-02 is incomplete
    expected = daily.resample("W-MON", label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).loc[weekly.index]
    pd.testing.assert_frame_equal(weekly[PRICES], expected[PRICES], check_freq=False, check_index_type=False)
    np.testing.assert_allclose(weekly["volume"], expected["volume"], rtol=1e-12)


# -- errors and edges --------------------------------------------------------------------------------

def minute_frame(ts_ms: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Consistent random candles at the given open times; volumes are multiples of 1/4 so sums are exact."""
    rng = np.random.default_rng(seed)
    n = len(ts_ms)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    open_ = np.round(close * np.exp(rng.normal(0, 0.005, n)), 2)
    high = np.maximum(open_, close) + np.round(rng.exponential(0.2, n), 2)
    low = np.minimum(open_, close) - np.round(rng.exponential(0.2, n), 2)
    volume = rng.integers(0, 4_000, n) / 4
    return frame_from_arrays(np.asarray(ts_ms, dtype=np.int64),
                             {"open": open_, "high": high, "low": low, "close": close, "volume": volume})


@pytest.mark.parametrize(("source", "target", "message"), [
    ("5m", "1m", "finer"),
    ("1h", "90m", "whole multiple"),
    ("7m", "1h", "whole multiple"),
    ("1w", "14d", "boundaries"),
])
def test_refuses_timeframe_pairs_that_do_not_nest(source: str, target: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resample(minute_frame(BASE_MS + np.arange(3) * 604_800_000), source, target)


@pytest.mark.parametrize(("offsets", "message"), [
    ([0, 2, 1, 3], "sorted"),
    ([0, 1, 1, 2], "unique"),
    ([0, 1.5, 2], "aligned"),
])
def test_refuses_unsorted_duplicate_or_misaligned_input(offsets: list[float], message: str) -> None:
    ts = (BASE_MS + np.asarray(offsets) * MINUTE).astype(np.int64)
    with pytest.raises(ValueError, match=message):
        resample(minute_frame(ts), "1m", "5m")


def test_same_timeframe_is_identity_and_empty_stays_empty() -> None:
    frame = minute_frame(BASE_MS + np.array([0, 1, 5, 6]) * MINUTE)
    pd.testing.assert_frame_equal(resample(frame, "1m", "1m"), frame)
    assert resample(frame.iloc[:0], "1m", "1h").empty
    assert resample(frame, "1m", "1h").empty  # nothing complete


def test_one_year_of_minutes_resamples_well_under_100_ms() -> None:
    frame = minute_frame(BASE_MS + np.arange(525_600, dtype=np.int64) * MINUTE)
    resample(frame, "1m", "1h")
    best = min(_timed(lambda: resample(frame, "1m", "1h")) for _ in range(5))
    assert best < 0.1, f"1m -> 1h of 525,600 rows took {best * 1e3:.1f} ms"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- properties --------------------------------------------------------------------------------------

@st.composite
def gappy_minutes(draw: st.DrawFn) -> pd.DataFrame:
    """1m candles from a random (often unaligned) start, with random single holes and runs removed."""
    n = draw(st.integers(0, 240))
    start = BASE_MS + draw(st.integers(0, 24 * 60)) * MINUTE
    present = np.ones(n, dtype=bool)
    for at, length in draw(st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(1, 20)), max_size=6)):
        present[at:at + length] = False
    return minute_frame(start + np.flatnonzero(present).astype(np.int64) * MINUTE, seed=draw(st.integers(0, 2**32 - 1)))


def reference_resample(frame: pd.DataFrame, minutes: int) -> dict[int, tuple[float, ...]]:
    """The slow, obvious version: group rows by bucket in a dict, keep buckets with all their minutes."""
    step = minutes * MINUTE
    groups: dict[int, list[tuple[float, ...]]] = defaultdict(list)
    for ts, row in zip(ts_ms_of(frame).tolist(), frame[list(VALUE_COLUMNS)].itertuples(index=False), strict=True):
        groups[ts // step * step].append(tuple(row))
    return {
        bucket: (rows[0][0], max(r[1] for r in rows), min(r[2] for r in rows), rows[-1][3], sum(r[4] for r in rows))
        for bucket, rows in sorted(groups.items())
        if len(rows) == minutes
    }


@settings(max_examples=300, deadline=None)
@given(frame=gappy_minutes(), minutes=st.sampled_from([2, 3, 5, 15, 60]))
def test_equals_reference_and_emits_exactly_the_complete_buckets(frame: pd.DataFrame, minutes: int) -> None:
    out = resample(frame, "1m", f"{minutes}m")
    got = {ts: tuple(row) for ts, row in zip(ts_ms_of(out).tolist(), out.itertuples(index=False), strict=True)}
    assert got == reference_resample(frame, minutes)

    present, step = set(ts_ms_of(frame).tolist()), minutes * MINUTE
    buckets = {t // step * step for t in present}
    complete = {b for b in buckets if all(b + i * MINUTE in present for i in range(minutes))}
    assert set(got) == complete

    o, h, lo, c, v = (out[name].to_numpy() for name in VALUE_COLUMNS)
    assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
    members = ts_ms_of(frame) // step * step
    for bucket, volume in zip(got, v, strict=True):
        assert volume == frame["volume"].to_numpy()[members == bucket].sum()


@settings(max_examples=200, deadline=None)
@given(frame=gappy_minutes())
def test_resampling_composes(frame: pd.DataFrame) -> None:
    via_5m = resample(resample(frame, "1m", "5m"), "5m", "15m")
    pd.testing.assert_frame_equal(via_5m, resample(frame, "1m", "15m"))
