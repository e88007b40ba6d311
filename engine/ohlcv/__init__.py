"""The Parquet OHLCV cache: `load(exchange, symbol, timeframe, start, end)` is how everything reads candles."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd

from engine.ohlcv.layout import SeriesKey
from engine.ohlcv.quality import QualityError
from engine.ohlcv.resample import resample
from engine.ohlcv.store import Store
from engine.ohlcv.timeframe import ceil_ms

__all__ = ["QualityError", "SeriesKey", "Store", "load", "to_ms"]

_EPOCH = pd.Timestamp(0, tz="UTC")


def to_ms(value: str | int | datetime | pd.Timestamp | None) -> int | None:
    """A time given as ISO text, datetime, Timestamp or epoch ms -> epoch ms; naive times are UTC."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return int(value)
    try:
        stamp = pd.Timestamp(value)
    except ValueError as exc:
        raise ValueError(f"cannot read {value!r} as a time; use ISO-8601 such as 2024-01-31 or 2024-01-31T12:00") from exc
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return (stamp - _EPOCH) // pd.Timedelta(1, "ms")


def load(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: str | int | datetime | pd.Timestamp | None = None,
    end: str | int | datetime | pd.Timestamp | None = None,
    *,
    repair: Iterable[str] = (),
    from_timeframe: str | None = None,
    root: Path | str | None = None,
) -> pd.DataFrame:
    """Candles with open time in [start, end) from the cache, checked: bad data raises `QualityError`
    naming the file and rows unless one of `quality.REPAIRS` is asked for. Gaps stay gaps.

    `from_timeframe` builds `timeframe` from a finer cached series (e.g. 4h from 1m), emitting only
    periods whose every finer candle exists. `root` is the folder holding `ohlcv/` (default: GAUNTLET_DATA_DIR)
    or an fsspec URL of one (`engine.ohlcv.remote`).
    """
    start_ms, end_ms = to_ms(start), to_ms(end)
    if from_timeframe is None:
        return Store(root).load(SeriesKey(exchange, symbol, timeframe), start_ms, end_ms, repair=repair)
    SeriesKey(exchange, symbol, timeframe)  # validates the target name
    # whole periods only: one opening before `start` would be cut short; one opening before `end` runs past it
    finer_start = None if start_ms is None else ceil_ms(start_ms, timeframe)
    finer_end = None if end_ms is None else ceil_ms(end_ms, timeframe)
    finer = Store(root).load(SeriesKey(exchange, symbol, from_timeframe), finer_start, finer_end, repair=repair)
    return resample(finer, from_timeframe, timeframe)
