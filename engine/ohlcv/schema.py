"""The cache schema, in one place: UTC candle-open timestamp plus open/high/low/close/volume float64.

In memory a series is a DataFrame indexed by a `timestamp` DatetimeIndex (ms resolution, UTC); on disk
it is a Parquet table with the same column names. Conversions between the two happen only here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")
INDEX_NAME = "timestamp"

ARROW_SCHEMA = pa.schema(
    [pa.field(INDEX_NAME, pa.timestamp("ms", tz="UTC"), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in VALUE_COLUMNS]
)


def frame_from_arrays(ts_ms: np.ndarray, values: dict[str, np.ndarray] | np.ndarray) -> pd.DataFrame:
    """Build a cache frame from epoch-millisecond open times and the five value columns.

    `values` is a dict by column name or an (n, 5) array in open/high/low/close/volume order.
    """
    if not isinstance(values, dict):
        values = {name: values[:, i] for i, name in enumerate(VALUE_COLUMNS)}
    index = pd.DatetimeIndex(np.asarray(ts_ms, dtype=np.int64).astype("datetime64[ms]"), name=INDEX_NAME).tz_localize("UTC")
    return pd.DataFrame({name: np.asarray(values[name], dtype=np.float64) for name in VALUE_COLUMNS}, index=index)


def empty_frame() -> pd.DataFrame:
    return frame_from_arrays(np.empty(0, dtype=np.int64), np.empty((0, 5)))


def ts_ms_of(frame: pd.DataFrame) -> np.ndarray:
    """Open times as int64 epoch milliseconds (pandas 3 defaults to µs, so never use `asi8` directly)."""
    return frame.index.as_unit("ms").asi8


def to_table(frame: pd.DataFrame) -> pa.Table:
    arrays = [pa.array(ts_ms_of(frame), type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))]
    arrays += [pa.array(frame[name].to_numpy(dtype=np.float64)) for name in VALUE_COLUMNS]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def from_table(table: pa.Table) -> pd.DataFrame:
    """Arrow table in the cache schema -> cache frame, without copying through Python objects."""
    ts_ms = table.column(INDEX_NAME).cast(pa.int64()).to_numpy()
    return frame_from_arrays(ts_ms, {name: table.column(name).to_numpy() for name in VALUE_COLUMNS})
