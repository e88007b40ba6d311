"""The candles the emulator serves and trades against: one feed per market, with its exchange filters.

The emulator's clock decides which of a feed's candles exist: those that have opened are served (the last one
partially while it is in progress), and only those that have closed are matched against resting orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core import Candle
from engine.ohlcv.schema import VALUE_COLUMNS, ts_ms_of
from engine.ohlcv.timeframe import timeframe_ms
from engine.venues import binance_wire as wire


@dataclass(frozen=True, slots=True)
class Feed:
    """The candles served for one symbol at one interval."""

    symbol: str
    timeframe: str
    ts_ms: np.ndarray
    values: np.ndarray  # (n, 5): open, high, low, close, volume
    rules: wire.SymbolFilters = field(default_factory=wire.SymbolFilters)

    @classmethod
    def from_frame(cls, symbol: str, timeframe: str, frame: pd.DataFrame, rules: wire.SymbolFilters | None = None) -> Feed:
        values = frame[list(VALUE_COLUMNS)].to_numpy(dtype=np.float64)
        return cls(symbol, timeframe, ts_ms_of(frame).copy(), values, rules or wire.SymbolFilters())

    @classmethod
    def from_parquet(cls, path: Path, symbol: str, timeframe: str) -> Feed:
        """A candle file in the `shared/data` format (int64 ms `timestamp`) or in the cache schema."""
        table = pq.read_table(path)
        missing = [c for c in ("timestamp", *VALUE_COLUMNS) if c not in table.column_names]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        stamp = table.column("timestamp")
        if pa.types.is_timestamp(stamp.type):
            stamp = stamp.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        ts = stamp.to_numpy().astype(np.int64)
        if len(ts) and np.any(np.diff(ts) <= 0):
            raise ValueError(f"{path}: timestamps must be strictly increasing")
        values = np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in VALUE_COLUMNS])
        return cls(symbol, timeframe, ts, values)

    @property
    def step_ms(self) -> int:
        return timeframe_ms(self.timeframe)

    @property
    def end_ms(self) -> int:
        """When the last candle closes."""
        return int(self.ts_ms[-1]) + self.step_ms if len(self.ts_ms) else 0

    def candle(self, i: int) -> Candle:
        o, h, lo, c, v = self.values[i].tolist()
        return Candle(int(self.ts_ms[i]), o, h, lo, c, v)

    def opened(self, now_ms: int) -> int:
        """How many candles have opened by `now_ms` (the last of them may still be in progress)."""
        return int(np.searchsorted(self.ts_ms, now_ms, side="right"))

    def closed_between(self, after_ms: int, now_ms: int) -> range:
        """Indices of the candles that closed in (after_ms, now_ms]: what the clock passed since `after_ms`."""
        step = self.step_ms
        lo = int(np.searchsorted(self.ts_ms, after_ms - step, side="right"))
        return range(lo, int(np.searchsorted(self.ts_ms, now_ms - step, side="right")))
