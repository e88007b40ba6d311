"""Bars: the NumPy view of a candle series that strategies, the sweep and the event loop all read.

pandas stops at this edge (`Bars.from_frame` / `to_frame`); inside, everything is contiguous float64
arrays indexed by bar position, and slicing a `Bars` is how replay and live hand a strategy its window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.ohlcv.schema import VALUE_COLUMNS, frame_from_arrays, ts_ms_of


@dataclass(frozen=True, slots=True)
class Bars:
    ts_ms: np.ndarray  # int64 open times
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ts_ms)
        if any(len(getattr(self, name)) != n for name in VALUE_COLUMNS):
            raise ValueError("bars: every column must have as many rows as ts_ms")
        if n > 1 and not (np.diff(self.ts_ms) > 0).all():
            row = int(np.flatnonzero(np.diff(self.ts_ms) <= 0)[0]) + 1
            raise ValueError(f"bars: open times must increase; row {row} does not")
        for name in VALUE_COLUMNS:
            values = getattr(self, name)
            if not np.isfinite(values).all():
                row = int(np.flatnonzero(~np.isfinite(values))[0])
                raise ValueError(f"bars: {name} is NaN or infinite at row {row}; load candles with engine.ohlcv.load")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Bars:
        columns = {name: np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64)) for name in VALUE_COLUMNS}
        return cls(ts_ms=np.ascontiguousarray(ts_ms_of(frame)), **columns)

    def to_frame(self) -> pd.DataFrame:
        return frame_from_arrays(self.ts_ms, {name: getattr(self, name) for name in VALUE_COLUMNS})

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.ts_ms.astype("datetime64[ms]")).tz_localize("UTC")

    def __len__(self) -> int:
        return len(self.ts_ms)

    def __getitem__(self, rows: slice) -> Bars:
        if not isinstance(rows, slice):
            raise TypeError("bars are sliced by position, e.g. bars[:t + 1]")
        return Bars(*(getattr(self, name)[rows] for name in ("ts_ms", *VALUE_COLUMNS)))
