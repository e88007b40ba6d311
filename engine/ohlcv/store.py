"""The Parquet OHLCV cache: one folder per series, one file per UTC month, one manifest as commit point.

A write merges new rows into the months they touch, writes each changed month to a new
content-addressed file, then swaps the manifest. Nothing else is ever deleted but the files a committed
manifest retired and the writer's own unfinished temp files: a partition the manifest does not name may
be the only copy of someone's data. A missing or unreadable manifest beside partition files stops every
read and write with the way out (`gauntlet data repair`), never an empty series written over them.

A write that would change a cached candle is refused with the differences (`conflicts`) unless the
caller asked to replace them. A write names the files it is about to add in the manifest first
(`pending`), so a write that dies halfway leaves only files provably its own. Readers open only the
months that overlap the requested range, check each file's size and sha256 against the manifest (hashing
on a second thread while the first decodes) and fingerprint the bytes they actually read. Rows are
checked (`quality.check`) when written, and again on load only for files of older manifests or when a
repair is asked for: verified bytes are the bytes that passed.

The root is a local folder, or for reading only an fsspec URL (`engine.ohlcv.remote`: a Dask worker reads the
client's cache over HTTP or from a bucket); a write to a URL is refused, naming it.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.ohlcv import quality
from engine.ohlcv.conflicts import ConflictError, Conflicts, find_conflicts
from engine.ohlcv.files import TMP_SUFFIX, FileOps
from engine.ohlcv.layout import SeriesKey, symbol_from_disk
from engine.ohlcv.manifest import Manifest, Partition
from engine.ohlcv.merge import merge
from engine.ohlcv.remote import ReadOnlyCacheError, RemotePath, cache_root
from engine.ohlcv.schema import ARROW_SCHEMA, INDEX_NAME, PARQUET_OPTIONS, from_tables, to_table, ts_ms_of
from engine.settings import settings

MANIFEST = "manifest.json"
_LOCK = ".lock"
PARTITION_NAME = re.compile(r"^(?P<month>\d{4}-\d{2})\.(?P<digest>[0-9a-f]{12})\.parquet$")
# FileOps.write_atomic's temp files: `.<target>.<tag>.tmp`, in the target's folder, for our two kinds of target
_TEMP_NAME = re.compile(rf"^\.(?:{re.escape(MANIFEST)}|{PARTITION_NAME.pattern[1:-1]})\.[0-9a-z]+{re.escape(TMP_SUFFIX)}$")
ON_CONFLICT = ("refuse", "replace")


class DamagedCacheError(ValueError):
    """A series whose files cannot be trusted as they are; the message says what and how to recover."""

    def __init__(self, key: SeriesKey, problem: str) -> None:
        self.key = key
        super().__init__(f"{problem}\n  recover with `{repair_command(key)}` (it checks every partition "
                         f"file, keeps what is intact and re-fetches or names what is not)")


def repair_command(key: SeriesKey) -> str:
    return f"gauntlet data repair {key.exchange} {key.symbol} {key.timeframe}"


@dataclass(frozen=True, slots=True)
class Loaded:
    """Rows read from the cache, with a way to name the file and row behind any position, and the
    fingerprint of the bytes they were decoded from."""

    frame: pd.DataFrame
    locate: Callable[[int], str]
    manifest: Manifest  # the one the rows were read through
    fingerprint: dict  # series, range, files and one sha256 over the bytes read (see `fingerprint_of`)


def fingerprint_of(key: SeriesKey, start_ms: int | None, end_ms: int | None, files: list[str],
                   digests: list[str], rows: int) -> dict:
    """What a run read: the sha256 of the files' own sha256s (computed from the bytes read, in order)
    and the range, so two runs over different bytes never share a fingerprint."""
    digest = hashlib.sha256("".join(digests).encode() + f"{start_ms}:{end_ms}".encode()).hexdigest()
    return {"series": str(key), "exchange": key.exchange, "symbol": key.symbol, "timeframe": key.timeframe,
            "start_ms": start_ms, "end_ms": end_ms, "files": files, "rows": rows, "sha256": digest}


@lru_cache(maxsize=1)
def _hasher() -> ThreadPoolExecutor:
    """One thread hashes file bytes while the caller decodes Parquet (hashlib releases the GIL)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ohlcv-sha256")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _size_changed(data: bytes, part: Partition) -> str | None:
    """The cheap check first: a file whose length is not the one recorded was truncated or rewritten."""
    if part.size is not None and len(data) != part.size:
        return (f"changed since it was written: {len(data):,} bytes where the manifest says {part.size:,} "
                f"(truncated or rewritten)")
    return None


def _changed(data: bytes, part: Partition) -> str | None:
    """How a file's bytes differ from what the manifest recorded of them (None: they do not)."""
    if (problem := _size_changed(data, part)) is not None:
        return problem
    return "changed since it was written (sha256 mismatch)" if _sha256(data) != part.sha256 else None


def month_keys(ts_ms: np.ndarray) -> np.ndarray:
    """`YYYY-MM` of each open time (UTC)."""
    return np.datetime_as_string(ts_ms.astype("datetime64[ms]").astype("datetime64[M]"), unit="M")


class Store:
    def __init__(self, root: Path | str | None = None, fs: FileOps | None = None) -> None:
        """`root` holds `ohlcv/`: a folder (default: GAUNTLET_DATA_DIR), or an fsspec URL to read from."""
        self.root: Path | RemotePath = cache_root(root) if root is not None else settings().data_dir
        self.fs = fs or FileOps()

    @property
    def remote(self) -> bool:
        return isinstance(self.root, RemotePath)

    # -- reading ---------------------------------------------------------------------------------
    def manifest(self, key: SeriesKey) -> Manifest | None:
        """The series' manifest; None for a series that has no files yet. Partition files without a
        readable manifest are an error, never an empty series."""
        folder = key.folder(self.root)
        path = folder / MANIFEST
        try:
            data = path.read_bytes()  # read, not asked about first: a server that cannot be reached says so
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            orphans = self.partition_files(folder)
            if orphans:
                raise DamagedCacheError(key, f"{path} is missing beside {len(orphans)} partition file(s) "
                                             f"({orphans[0].name}...); nothing was read or written") from None
            return None
        try:
            manifest = Manifest.from_json(data.decode(), source=str(path))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DamagedCacheError(key, f"{exc}; nothing was read or written") from exc
        if (manifest.exchange, manifest.symbol, manifest.timeframe) != (key.exchange, key.symbol, key.timeframe):
            raise DamagedCacheError(key, f"{path}: manifest describes {manifest.exchange} {manifest.symbol} "
                                         f"{manifest.timeframe}, not {key}")
        return manifest

    @staticmethod
    def partition_files(folder: Path | RemotePath) -> list[Path]:
        """Files named like partitions in a series folder, whether a manifest names them or not (at a URL:
        those the server lists, if it lists folders)."""
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if PARTITION_NAME.fullmatch(p.name) and p.is_file())

    def require(self, key: SeriesKey) -> Manifest:
        manifest = self.manifest(key)
        if manifest is None or not manifest.partitions:  # nothing yet, or a first write that never finished
            if self.remote:
                raise LookupError(f"{key} is not in the cache at {self.root}: no {key.folder(self.root) / MANIFEST}; "
                                  f"check the URL names the folder that holds ohlcv/ (as GAUNTLET_DATA_DIR does)")
            cached = ", ".join(str(k) for k in self.series()) or "nothing yet"
            raise LookupError(f"{key} is not in the cache at {self.root / 'ohlcv'} (cached: {cached}); "
                              f"fill it with `gauntlet data fetch` or `gauntlet data import`")
        return manifest

    def read(self, key: SeriesKey, start_ms: int | None = None, end_ms: int | None = None) -> Loaded:
        """Rows with open time in [start_ms, end_ms) from verified files, not checked for data quality;
        see `load` for the checked reader."""
        folder = key.folder(self.root)
        try:
            manifest, chosen, tables, digests = self._read_tables(key, start_ms, end_ms)
        except _Superseded:  # a writer swapped the manifest and retired a file between our two reads
            manifest, chosen, tables, digests = self._read_tables(key, start_ms, end_ms)
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

        fingerprint = fingerprint_of(key, start_ms, end_ms, [p.file for p in chosen], digests, hi - lo)
        return Loaded(frame.iloc[lo:hi], locate, manifest, fingerprint)

    def _read_tables(self, key: SeriesKey, start_ms: int | None,
                     end_ms: int | None) -> tuple[Manifest, list[Partition], list[pa.Table], list[str]]:
        manifest, folder = self.require(key), key.folder(self.root)
        chosen = [p for p in manifest.partitions.values()
                  if (start_ms is None or p.last_ms >= start_ms) and (end_ms is None or p.first_ms < end_ms)]
        tables, hashes = [], []
        for part in chosen:
            data = self._read_bytes(key, manifest, part)
            hashes.append(_hasher().submit(_sha256, data))
            tables.append(self._decode(key, folder / part.file, data, hashes[-1], part))
        digests = [future.result() for future in hashes]
        for part, digest in zip(chosen, digests, strict=True):
            if digest != part.sha256:
                raise DamagedCacheError(key, f"{folder / part.file}: changed since it was written "
                                             f"(sha256 {digest[:12]}..., the manifest says {part.sha256[:12]}...)")
        return manifest, chosen, tables, digests

    def _read_bytes(self, key: SeriesKey, manifest: Manifest, part: Partition) -> bytes:
        path = key.folder(self.root) / part.file
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if self.manifest(key) != manifest:
                raise _Superseded from None
            raise DamagedCacheError(key, f"{path}: missing (the manifest lists it with {part.rows:,} rows)") from None
        if (problem := _size_changed(data, part)) is not None:
            raise DamagedCacheError(key, f"{path}: {problem}")
        return data

    @staticmethod
    def _decode(key: SeriesKey, path: Path, data: bytes, digest: Future, part: Partition) -> pa.Table:
        try:
            return pq.ParquetFile(pa.BufferReader(data)).read()
        except (pa.ArrowException, OSError) as exc:
            if digest.result() != part.sha256:
                raise DamagedCacheError(key, f"{path}: changed since it was written, and is no longer "
                                             f"readable Parquet ({exc})") from exc
            raise

    def load(self, key: SeriesKey, start_ms: int | None = None, end_ms: int | None = None,
             repair: Iterable[str] = ()) -> pd.DataFrame:
        """Checked rows for [start_ms, end_ms): errors raise `QualityError` unless a repair is asked for."""
        return self.load_checked(key, start_ms, end_ms, repair).frame

    def load_checked(self, key: SeriesKey, start_ms: int | None = None, end_ms: int | None = None,
                     repair: Iterable[str] = ()) -> Loaded:
        """`load`, keeping the fingerprint of the bytes read: what a run records as its data.

        Files this version wrote (their manifest entry has a size) were checked before they were written and
        are verified byte for byte on the way in, so checking their rows again would only repeat the write's
        verdict; files of older manifests, and repaired rows, are checked here."""
        loaded = self.read(key, start_ms, end_ms)
        manifest, repairs = loaded.manifest, set(repair)
        sized = {p.file for p in manifest.partitions.values() if p.size is not None}
        if not repairs and sized.issuperset(loaded.fingerprint["files"]):
            return loaded
        frame = (quality.repair(loaded.frame, key.timeframe, repairs, now_ms=manifest.obtained_ms) if repairs
                 else loaded.frame)
        report = quality.check(frame, key.timeframe, now_ms=manifest.obtained_ms)
        if not report.ok:
            raise quality.QualityError(str(key), report, None if repairs else loaded.locate)
        return replace(loaded, frame=frame)

    def verify_files(self, key: SeriesKey) -> list[str]:
        """Problems with the files themselves: a partition the manifest names that is missing, altered,
        or disagrees with its manifest entry (one line each, naming the file)."""
        return [problem for _, problem in self.damaged_partitions(key)]

    def damaged_partitions(self, key: SeriesKey, manifest: Manifest | None = None, start_ms: int | None = None,
                           end_ms: int | None = None) -> list[tuple[str, str]]:
        """(month, problem) for every partition the manifest names, overlapping [start_ms, end_ms) when
        given, that cannot be used as it is."""
        manifest, folder, problems = manifest or self.require(key), key.folder(self.root), []
        for month, part in manifest.partitions.items():
            if (start_ms is not None and part.last_ms < start_ms) or (end_ms is not None and part.first_ms >= end_ms):
                continue
            path = folder / part.file
            try:
                data = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                problems.append((month, f"{path}: missing (the manifest lists it for {month})"))
                continue
            if (problem := _changed(data, part) or partition_problem(data, month, part)) is not None:
                problems.append((month, f"{path}: {problem}"))
        return problems

    def series(self) -> list[SeriesKey]:
        """Every series folder with a manifest or partition files (a lost manifest is still a series)."""
        if isinstance(self.root, RemotePath):
            raise ValueError(f"the cache at {self.root} is read through its manifests, not listed: name the series")
        base, keys = self.root / "ohlcv", []
        for tf_dir in sorted(p for p in base.glob("*/*/*") if p.is_dir()):
            if (tf_dir / MANIFEST).is_file() or self.partition_files(tf_dir):
                try:
                    keys.append(SeriesKey(tf_dir.parent.parent.name, symbol_from_disk(tf_dir.parent.name), tf_dir.name))
                except ValueError:
                    continue  # not a folder of ours
        return keys

    # -- writing ---------------------------------------------------------------------------------
    def write(self, key: SeriesKey, frame: pd.DataFrame, *, source: dict, obtained_ms: int,
              fetched: tuple[int, int] | None = None, on_conflict: str = "refuse") -> Manifest:
        """Merge checked rows into the series.

        Rows for open times already cached must carry the same values: otherwise the write raises
        `ConflictError` and changes nothing, unless `on_conflict="replace"`, when the new values win and
        the manifest's source entry records what they replaced. `fetched` is the open-time range the
        source was asked for and answered, so a later fetch can skip it even where the exchange has no
        candles (an outage).
        """
        if on_conflict not in ON_CONFLICT:
            raise ValueError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, got {on_conflict!r}")
        self._writable(key)
        report = quality.check(frame, key.timeframe, now_ms=obtained_ms)
        if not report.ok:
            raise quality.QualityError(f"{key} (incoming rows from {source.get('kind', 'source')})", report)
        folder = key.folder(self.root)
        folder.mkdir(parents=True, exist_ok=True)
        with self._locked(folder):
            current = self.manifest(key) or Manifest(key.exchange, key.symbol, key.timeframe)
            self._sweep(folder, current)  # what a crash after the last swap left behind
            months = [(month, rows, self._cached_rows(key, current, month)) for month, rows in self._by_month(frame)]
            conflicts = _conflicts(months)
            if conflicts is not None and on_conflict == "refuse":
                raise ConflictError(f"{key} (new rows from {_describe_source(source)})", conflicts,
                                    "pass --replace to overwrite the cached candles with the new values")
            encoded = [self._encode_partition(month, merge(cached, rows) if cached is not None else rows)
                       for month, rows, cached in months]
            new_files = tuple(part.file for part, _ in encoded if not (folder / part.file).is_file())
            if new_files:  # name them before they exist, so a crash leaves files provably ours to sweep
                self.fs.write_atomic(folder / MANIFEST, replace(current, pending=new_files).to_json().encode())
            for part, data in encoded:
                if part.file in new_files:
                    self.fs.write_atomic(folder / part.file, data)
            partitions = dict(current.partitions) | {month: part for (month, _, _), (part, _) in zip(months, encoded)}
            if conflicts is not None:
                source = {**source, "replaced": conflicts.to_record()}
            manifest = replace(current.updated(partitions, source, fetched, obtained_ms), market_type=key.market_type,
                               pending=())
            self.fs.write_atomic(folder / MANIFEST, manifest.to_json().encode())
            self._sweep(folder, manifest)
        return manifest

    def swap_manifest(self, key: SeriesKey, manifest: Manifest) -> None:
        """Commit a manifest built elsewhere (a heal); the caller holds `locked(key)`."""
        self._writable(key)
        folder = key.folder(self.root)
        self.fs.write_atomic(folder / MANIFEST, manifest.to_json().encode())
        self._sweep(folder, manifest)

    @contextmanager
    def locked(self, key: SeriesKey) -> Iterator[None]:
        """Hold the series' writer lock (not re-entrant: never call `write` inside it)."""
        self._writable(key)
        folder = key.folder(self.root)
        folder.mkdir(parents=True, exist_ok=True)
        with self._locked(folder):
            yield

    def _writable(self, key: SeriesKey) -> None:
        if isinstance(self.root, RemotePath):
            raise ReadOnlyCacheError(f"cannot write {key} to the cache at {self.root}: a cache at a URL is only read; "
                                     f"fetch or import into a local folder (GAUNTLET_DATA_DIR) and publish that")

    @staticmethod
    def _by_month(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
        if frame.empty:
            return
        months = month_keys(ts_ms_of(frame))
        bounds = np.flatnonzero(months[1:] != months[:-1]) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(frame)], strict=True):
            yield str(months[lo]), frame.iloc[lo:hi]

    def _cached_rows(self, key: SeriesKey, manifest: Manifest, month: str) -> pd.DataFrame | None:
        """A month's cached rows, from a verified file: a write never merges into damaged data."""
        part = manifest.partitions.get(month)
        if part is None:
            return None
        data = self._read_bytes(key, manifest, part)
        if (problem := _changed(data, part)) is not None:
            raise DamagedCacheError(key, f"{key.folder(self.root) / part.file}: {problem}; nothing was written")
        return from_tables([pq.ParquetFile(pa.BufferReader(data)).read()])

    @staticmethod
    def _encode_partition(month: str, frame: pd.DataFrame) -> tuple[Partition, bytes]:
        """A month's rows as Parquet bytes and the manifest entry naming them by their content."""
        buffer = io.BytesIO()
        pq.write_table(to_table(frame), buffer, **PARQUET_OPTIONS)
        data = buffer.getvalue()
        digest = _sha256(data)
        ts = ts_ms_of(frame)
        return Partition(file=f"{month}.{digest[:12]}.parquet", rows=len(frame), first_ms=int(ts[0]),
                         last_ms=int(ts[-1]), sha256=digest, size=len(data)), data

    def _sweep(self, folder: Path, manifest: Manifest) -> None:
        """Delete what is provably ours to delete: files the committed manifest retired, and the temp
        files of writes that never finished (we hold the series lock, so no write is under way)."""
        named = {p.file for p in manifest.partitions.values()}
        for name in (*manifest.retired, *manifest.pending):
            if name not in named and PARTITION_NAME.fullmatch(name):
                self.fs.unlink(folder / name)
        for path in folder.iterdir():
            if _TEMP_NAME.fullmatch(path.name) and path.is_file():
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


class _Superseded(Exception):
    """The manifest changed under a reader: read again through the new one."""


def _conflicts(months: list[tuple[str, pd.DataFrame, pd.DataFrame | None]]) -> Conflicts | None:
    found = [c for _, rows, cached in months if cached is not None and (c := find_conflicts(cached, rows)) is not None]
    return sum(found[1:], found[0]) if found else None


def _describe_source(source: dict) -> str:
    return str(source.get("file") or source.get("exchange") or source.get("kind", "the source"))


def partition_problem(data: bytes, month: str, part: Partition | None = None) -> str | None:
    """What is wrong with a partition file's content for `month` (None: nothing): unreadable, not our
    schema, rows outside the month, or rows and range that disagree with its manifest entry."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        return f"not readable Parquet ({exc})"
    if not table.schema.equals(ARROW_SCHEMA):
        return "not in the cache schema (timestamp, open, high, low, close, volume)"
    ts = table.column(INDEX_NAME).cast(pa.int64()).to_numpy()
    if not len(ts):
        return "holds no rows"
    if set(month_keys(ts[[0, -1]])) != {month}:
        return f"holds rows outside {month}"
    if part is not None and (len(ts) != part.rows or (ts[0], ts[-1]) != (part.first_ms, part.last_ms)):
        return "rows or range disagree with the manifest"
    return None
