"""Timeframe strings (ccxt's `1m`, `4h`, `1d`, `1w`) as milliseconds: one parser for the whole cache."""

from __future__ import annotations

import re

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdw])$")
# Binance (and ccxt) open weekly candles on Monday 00:00 UTC; the epoch was a Thursday.
_WEEK_OFFSET_MS = 4 * _UNIT_MS["d"]


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle; monthly candles are refused because their length varies."""
    match = _PATTERN.fullmatch(timeframe)
    if match is None:
        hint = " (monthly candles vary in length and are not supported)" if timeframe.endswith("M") else ""
        raise ValueError(f"unknown timeframe {timeframe!r}: expected e.g. 1m, 5m, 1h, 4h, 1d, 1w{hint}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def timeframe_name(ms: int) -> str:
    """The shortest timeframe string for a candle length (`3_600_000` -> `1h`), or a plain duration."""
    for unit, size in sorted(_UNIT_MS.items(), key=lambda item: -item[1]):
        if ms > 0 and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms} ms"


def alignment_offset_ms(timeframe: str) -> int:
    """Where candle boundaries sit relative to the epoch: weekly candles start on Mondays."""
    return _WEEK_OFFSET_MS if timeframe.endswith("w") else 0


def floor_ms(ts_ms: int, timeframe: str) -> int:
    """Open time of the candle that contains `ts_ms`."""
    step, offset = timeframe_ms(timeframe), alignment_offset_ms(timeframe)
    return (ts_ms - offset) // step * step + offset


def ceil_ms(ts_ms: int, timeframe: str) -> int:
    """First candle open time at or after `ts_ms`."""
    floor = floor_ms(ts_ms, timeframe)
    return floor if floor == ts_ms else floor + timeframe_ms(timeframe)
