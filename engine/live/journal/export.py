"""A deployment's journal as Parquet, for `gauntlet journal export NAME`: `orders.parquet`, `fills.parquet`
and `events.parquet` in one folder, each replaced atomically (written beside its target, synced, renamed
over it), so a reader never sees half a file. The three are read from one snapshot of the journal, so they
agree with each other; JSON columns (an event's fields, an order's raw venue state) stay JSON text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from engine.ohlcv.files import FileOps

__all__ = ["SCHEMAS", "write_tables"]

SCHEMAS = {
    "orders": pa.schema([
        ("client_id", pa.string()), ("deployment", pa.string()), ("symbol", pa.string()), ("side", pa.int8()),
        ("type", pa.string()), ("tif", pa.string()), ("qty", pa.float64()), ("quote_qty", pa.float64()),
        ("limit_px", pa.float64()), ("stop_px", pa.float64()), ("reduce_only", pa.bool_()), ("status", pa.string()),
        ("venue_order_id", pa.string()), ("filled_qty", pa.float64()), ("reason", pa.string()),
        ("venue_state", pa.string()), ("intent_ms", pa.int64()), ("updated_ms", pa.int64()),
    ]),
    "fills": pa.schema([
        ("id", pa.int64()), ("deployment", pa.string()), ("symbol", pa.string()), ("trade_id", pa.string()),
        ("client_id", pa.string()), ("qty", pa.float64()), ("px", pa.float64()), ("fee", pa.float64()),
        ("fee_asset", pa.string()), ("ts_ms", pa.int64()), ("seq", pa.int64()),
    ]),
    "events": pa.schema([
        ("seq", pa.int64()), ("deployment", pa.string()), ("ts_ms", pa.int64()), ("type", pa.string()),
        ("fields", pa.string()),
    ]),
}
_JSON_COLUMNS = {"orders": "venue_state", "events": "fields"}


def write_tables(rows: Mapping[str, list[Mapping[str, Any]]], folder: Path) -> list[Path]:
    """Write each table of `rows` (a name of `SCHEMAS` -> its rows) to `folder/<name>.parquet`."""
    folder.mkdir(parents=True, exist_ok=True)
    files, written = FileOps(), []
    for name, table_rows in rows.items():
        table = pa.Table.from_pylist([_flat(name, row) for row in table_rows], schema=SCHEMAS[name])
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer)
        path = folder / f"{name}.parquet"
        files.write_atomic(path, buffer.getvalue().to_pybytes())
        written.append(path)
    return written


def _flat(name: str, row: Mapping[str, Any]) -> dict[str, Any]:
    column = _JSON_COLUMNS.get(name)
    if column is None or row[column] is None:
        return dict(row)
    return {**row, column: json.dumps(row[column], separators=(",", ":"))}
