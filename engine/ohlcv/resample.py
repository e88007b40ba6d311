"""Aggregating candles to a coarser timeframe, keeping only periods whose every constituent candle exists.

A target candle is open=first, high=max, low=min, close=last, volume=sum of the source candles whose open
time floors to its open time (weekly buckets start on Monday, see `timeframe.alignment_offset_ms`).

Incomplete buckets are dropped, never emitted from the candles that happen to exist: next to an
outage, or at a trailing period that had not finished when the data was fetched. Binance does the
opposite at outages: it keeps the partial hour (e.g. 2020-12-21 14:00 UTC is built from 2 of its 12
five-minute candles, see the "Quirks" of the shared data README), so our resampled series can miss a few
candles the exchange's own series has. We prefer a gap to a candle whose range and volume silently cover
only part of its period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.ohlcv.schema import VALUE_COLUMNS, empty_frame, frame_from_arrays, ts_ms_of
from engine.ohlcv.timeframe import alignment_offset_ms, timeframe_ms

__all__ = ["resample"]


def resample(frame: pd.DataFrame, source_tf: str, target_tf: str) -> pd.DataFrame:
    """Complete `target_tf` candles built from a sorted, unique, aligned `source_tf` cache frame."""
    per_bucket = _candles_per_bucket(source_tf, target_tf)
    ts = ts_ms_of(frame)
    _check_input(ts, source_tf)
    if not len(ts):
        return empty_frame()
    step, offset = timeframe_ms(target_tf), alignment_offset_ms(target_tf)
    bucket = (ts - offset) // step * step + offset
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.append(starts[1:], len(ts))
    # reduceat over every bucket (each segment runs to the next start), then keep the complete ones:
    # with unique aligned open times, a bucket of `per_bucket` rows holds every constituent candle.
    complete = np.flatnonzero((ends - starts) == per_bucket)
    o, h, lo, c, v = (frame[name].to_numpy(dtype=np.float64) for name in VALUE_COLUMNS)
    values = {
        "open": o[starts[complete]],
        "high": np.maximum.reduceat(h, starts)[complete],
        "low": np.minimum.reduceat(lo, starts)[complete],
        "close": c[ends[complete] - 1],
        "volume": np.add.reduceat(v, starts)[complete],
    }
    return frame_from_arrays(bucket[starts[complete]], values)


def _candles_per_bucket(source_tf: str, target_tf: str) -> int:
    """How many source candles make one target candle; refuses pairs whose boundaries do not nest."""
    source_ms, target_ms = timeframe_ms(source_tf), timeframe_ms(target_tf)
    if target_ms < source_ms:
        raise ValueError(f"cannot resample {source_tf} to the finer timeframe {target_tf}: only coarser targets")
    if target_ms % source_ms:
        raise ValueError(f"cannot resample {source_tf} to {target_tf}: {target_tf} is not a whole multiple of "
                         f"{source_tf}")
    if (alignment_offset_ms(target_tf) - alignment_offset_ms(source_tf)) % source_ms:
        raise ValueError(f"cannot resample {source_tf} to {target_tf}: {target_tf} candles do not start on "
                         f"{source_tf} boundaries")
    return target_ms // source_ms


def _check_input(ts: np.ndarray, source_tf: str) -> None:
    """Bucket boundaries are found from consecutive rows, so order, uniqueness and alignment must hold."""
    diffs = np.diff(ts)
    if (diffs < 0).any():
        row = int(np.flatnonzero(diffs < 0)[0]) + 1
        raise ValueError(f"resample needs rows sorted by open time; row {row} is earlier than the row before")
    if (diffs == 0).any():
        row = int(np.flatnonzero(diffs == 0)[0]) + 1
        raise ValueError(f"resample needs unique open times; row {row} repeats the open time before it")
    step, offset = timeframe_ms(source_tf), alignment_offset_ms(source_tf)
    misaligned = np.flatnonzero((ts - offset) % step)
    if len(misaligned):
        raise ValueError(f"resample needs {source_tf}-aligned open times; row {int(misaligned[0])} is not on a "
                         f"{source_tf} boundary")
