"""The Parquet OHLCV cache: one folder per series, one file per UTC month, one manifest as commit point.

A write merges new rows into the months they touch, writes each changed month to a new
content-addressed file, then swaps the manifest; files no manifest names are swept afterwards. Readers
open only the months that overlap the requested range, and every load is checked (`quality.check`).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.ohlcv import quality
from engine.ohlcv.files import FileOps
from engine.ohlcv.layout import SeriesKey, symbol_from_disk
from engine.ohlcv.manifest import Manifest, Partition
from engine.ohlcv.merge import merge
from engine.ohlcv.schema import PARQUET_OPTIONS, from_tables, to_table, ts_ms_of
from engine.settings import settings

MANIFEST = "manifest.json"
_LOCK = ".lock"


@dataclass(frozen=True, slots=True)
class Loaded:
    """Rows read from the cache, with a way to name the file and row behind any position."""

    frame: pd.DataFrame
    locate: Callable[[int], str]
    manifest: Manifest  # the one the rows were read through


def month_keys(ts_ms: np.ndarray) -> np.ndarray:
    """`YYYY-MM` of each open time (UTC)."""
    return np.datetime_as_string(ts_ms.astype("datetime64[ms]").astype("datetime64[M]"), unit="M")


class Store:
    def __init__(self, root: Path | None = None, fs: FileOps | None = None) -> None:
        self.root = Path(root) if root is not None else settings().data_dir
        self.fs = fs or FileOps()

    # -- reading ---------------------------------------------------------------------------------
    def manifest(self, key: SeriesKey) -> Manifest | None:
        path = key.folder(self.root) / MANIFEST
        if not path.is_file():
            return None
        manifest = Manifest.from_json(path.read_text(), source=str(path))
        if (manifest.exchange, manifest.symbol, manifest.timeframe) != (key.exchange, key.symbol, key.timeframe):
            raise ValueError(f"{path}: manifest describes {manifest.exchange} {manifest.symbol} {manifest.timeframe}")
        return manifest

    def require(self, key: SeriesKey) -> Manifest:
        manifest = self.manifest(key)
        if manifest is None:
            cached = ", ".join(str(k) for k in self.series()) or "nothing yet"
            raise LookupError(f"{key} is not in the cache at {self.root / 'ohlcv'} (cached: {cached}); "
                              f"fill it with `gauntlet data fetch` or `gauntlet data import`")
        return manifest

    def read(self, key: SeriesKey, start_ms: int | None = None, end_ms: int | None = None) -> Loaded:
        """Rows with open time in [start_ms, end_ms), unchecked; see `load` for the checked reader."""
        folder = key.folder(self.root)
        try:
            manifest, chosen, tables = self._read_tables(key, start_ms, end_ms)
        except FileNotFoundError:  # a writer swapped the manifest and swept a file between our two reads
            manifest, chosen, tables = self._read_tables(key, start_ms, end_ms)
        frame = from_tables(tables)
        ts = ts_ms_of(frame)
        lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, side="left"))
        hi = len(ts) if end_ms is None else int(np.searchsorted(ts, end_ms, side="left"))
        offsets = np.cumsum([0] + [p.rows for p in chosen])

        def locate(pos: int) -> str:
            row = pos + lo
            part = int(np.searchsorted(offsets, row, side="right")) - 1
            stamp = quality.fmt_ts(int(ts[row]))
            return f"{folder / chosen[part].file} row {row - offsets[part]} ({stamp})"

        return Loaded(frame.iloc[lo:hi], locate, manifest)

    def _read_tables(self, key: SeriesKey, start_ms: int | None,
                     end_ms: int | None) -> tuple[Manifest, list[Partition], list[pa.Table]]:
        manifest, folder = self.require(key), key.folder(self.root)
        chosen = [p for p in manifest.partitions.values()
                  if (start_ms is None or p.last_ms >= start_ms) and (end_ms is None or p.first_ms < end_ms)]
        return manifest, chosen, [pq.ParquetFile(folder / p.file).read() for p in chosen]

    def load(self, key: SeriesKey, start_ms: int | None = None, end_ms: int | None = None,
             repair: Iterable[str] = ()) -> pd.DataFrame:
        """Checked rows for [start_ms, end_ms): errors raise `QualityError` unless a repair is asked for."""
        loaded = self.read(key, start_ms, end_ms)
        manifest, repairs = loaded.manifest, set(repair)
        frame = quality.repair(loaded.frame, key.timeframe, repairs, now_ms=manifest.obtained_ms) if repairs else loaded.frame
        report = quality.check(frame, key.timeframe, now_ms=manifest.obtained_ms)
        if not report.ok:
            raise quality.QualityError(str(key), report, None if repairs else loaded.locate)
        return frame

    def verify_files(self, key: SeriesKey) -> list[str]:
        """Problems with the files themselves: a partition the manifest names that is missing, altered,
        or disagrees with its manifest entry."""
        manifest, folder, problems = self.require(key), key.folder(self.root), []
        for month, part in manifest.partitions.items():
            path = folder / part.file
            if not path.is_file():
                problems.append(f"{path}: missing (the manifest lists it for {month})")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != part.sha256:
                problems.append(f"{path}: content changed since it was written (sha256 mismatch)")
            else:
                ts = ts_ms_of(self._read_partition(folder, part))
                if len(ts) != part.rows or (len(ts) and (ts[0], ts[-1]) != (part.first_ms, part.last_ms)):
                    problems.append(f"{path}: rows or range disagree with the manifest")
                elif len(ts) and set(month_keys(ts[[0, -1]])) != {month}:
                    problems.append(f"{path}: holds rows outside {month}")
        return problems

    def series(self) -> list[SeriesKey]:
        base = self.root / "ohlcv"
        keys = []
        for path in sorted(base.glob(f"*/*/*/{MANIFEST}")):
            tf_dir = path.parent
            keys.append(SeriesKey(tf_dir.parent.parent.name, symbol_from_disk(tf_dir.parent.name), tf_dir.name))
        return keys

    # -- writing ---------------------------------------------------------------------------------
    def write(self, key: SeriesKey, frame: pd.DataFrame, *, source: dict, obtained_ms: int,
              fetched: tuple[int, int] | None = None) -> Manifest:
        """Merge checked rows into the series; the newer rows win where open times collide.

        `fetched` is the open-time range the source was asked for and answered, so a later fetch can
        skip it even where the exchange has no candles (an outage).
        """
        report = quality.check(frame, key.timeframe, now_ms=obtained_ms)
        if not report.ok:
            raise quality.QualityError(f"{key} (incoming rows from {source.get('kind', 'source')})", report)
        folder = key.folder(self.root)
        folder.mkdir(parents=True, exist_ok=True)
        with self._locked(folder):
            current = self.manifest(key) or Manifest(key.exchange, key.symbol, key.timeframe)
            partitions = dict(current.partitions)
            for month, rows in self._by_month(frame):
                old = current.partitions.get(month)
                merged = merge(self._read_partition(folder, old), rows) if old else rows
                partitions[month] = self._write_partition(folder, month, merged)
            manifest = current.updated(partitions, source, fetched, obtained_ms)
            self.fs.write_atomic(folder / MANIFEST, manifest.to_json().encode())
            self._sweep(folder, manifest)
        return manifest

    @staticmethod
    def _by_month(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
        if frame.empty:
            return
        months = month_keys(ts_ms_of(frame))
        bounds = np.flatnonzero(months[1:] != months[:-1]) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(frame)], strict=True):
            yield str(months[lo]), frame.iloc[lo:hi]

    @staticmethod
    def _read_partition(folder: Path, part: Partition) -> pd.DataFrame:
        return from_tables([pq.read_table(folder / part.file)])

    def _write_partition(self, folder: Path, month: str, frame: pd.DataFrame) -> Partition:
        buffer = io.BytesIO()
        pq.write_table(to_table(frame), buffer, **PARQUET_OPTIONS)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        name = f"{month}.{digest[:12]}.parquet"
        if not (folder / name).is_file():
            self.fs.write_atomic(folder / name, data)
        ts = ts_ms_of(frame)
        return Partition(file=name, rows=len(frame), first_ms=int(ts[0]), last_ms=int(ts[-1]), sha256=digest)

    def _sweep(self, folder: Path, manifest: Manifest) -> None:
        """Delete partition files and temp files the manifest does not name (left by rewrites or crashes)."""
        keep = {p.file for p in manifest.partitions.values()} | {MANIFEST, _LOCK}
        for path in folder.iterdir():
            if path.name not in keep and path.is_file():
                self.fs.unlink(path)

    @contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        """One writer per series at a time, across processes (readers need no lock)."""
        with open(folder / _LOCK, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
