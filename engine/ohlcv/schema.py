"""The cache schema, in one place: UTC candle-open timestamp plus open/high/low/close/volume float64.

In memory a series is a DataFrame indexed by a `timestamp` DatetimeIndex (ms resolution, UTC); on disk
it is a Parquet table with the same column names. Conversions between the two happen only here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
# Sorted open times delta-encode to almost nothing; byte-stream-split floats decode fast under lz4.
# Measured on a year of 1m candles: 16 MB, ~10 ms to read (zstd with dictionaries: 20 MB, ~30 ms).
PARQUET_OPTIONS = {
    "compression": "lz4",
    "use_dictionary": False,
    "column_encoding": {INDEX_NAME: "DELTA_BINARY_PACKED", **{name: "BYTE_STREAM_SPLIT" for name in VALUE_COLUMNS}},
}


def _frame(ts_ms: np.ndarray, block: np.ndarray) -> pd.DataFrame:
    """`block` is (n, 5) in Fortran order, so pandas adopts it as one block without copying."""
    index = pd.DatetimeIndex(np.asarray(ts_ms, dtype=np.int64).astype("datetime64[ms]"), name=INDEX_NAME).tz_localize("UTC")
    return pd.DataFrame(block, index=index, columns=list(VALUE_COLUMNS), copy=False)


def frame_from_arrays(ts_ms: np.ndarray, values: Mapping[str, np.ndarray] | np.ndarray) -> pd.DataFrame:
    """Build a cache frame from epoch-millisecond open times and the five value columns.

    `values` is a mapping by column name or an (n, 5) array in open/high/low/close/volume order.
    """
    block = np.empty((len(VALUE_COLUMNS), len(ts_ms)), dtype=np.float64).T
    for i, name in enumerate(VALUE_COLUMNS):
        block[:, i] = values[name] if isinstance(values, Mapping) else values[:, i]
    return _frame(ts_ms, block)


def empty_frame() -> pd.DataFrame:
    return frame_from_arrays(np.empty(0, dtype=np.int64), np.empty((0, 5)))


def ts_ms_of(frame: pd.DataFrame) -> np.ndarray:
    """Open times as int64 epoch milliseconds (pandas 3 defaults to µs, so never use `asi8` directly)."""
    return frame.index.as_unit("ms").asi8


def to_table(frame: pd.DataFrame) -> pa.Table:
    arrays = [pa.array(ts_ms_of(frame), type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))]
    arrays += [pa.array(frame[name].to_numpy(dtype=np.float64)) for name in VALUE_COLUMNS]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def from_tables(tables: Sequence[pa.Table]) -> pd.DataFrame:
    """Arrow tables in the cache schema, in order -> one cache frame, copying each value exactly once."""
    n = sum(t.num_rows for t in tables)
    ts = np.empty(n, dtype=np.int64)
    block = np.empty((len(VALUE_COLUMNS), n), dtype=np.float64).T
    row = 0
    for batch in (b for table in tables for b in table.to_batches()):
        end = row + batch.num_rows
        ts[row:end] = batch.column(INDEX_NAME).cast(pa.int64()).to_numpy()
        for i, name in enumerate(VALUE_COLUMNS):
            block[row:end, i] = batch.column(name).to_numpy()
        row = end
    return _frame(ts, block)
