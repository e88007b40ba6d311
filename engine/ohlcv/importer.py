"""Candle files into the cache: Binance kline dumps (CSV or zip), plain CSV, and Parquet like ours.

Every file in a batch is parsed and checked before anything is written, so one bad file leaves the
cache as it was. Parsing is vectorised (pyarrow's CSV reader); only when it fails do we walk the lines
in Python to name the first bad one, because "invalid value 'abc'" is no help in a 44,640-line month.
Errors name the file and the 1-based line (the header counts); Parquet rows are 0-based, as in the store.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engine.ohlcv import quality
from engine.ohlcv.conflicts import Conflicts
from engine.ohlcv.layout import SeriesKey, symbol_from_disk
from engine.ohlcv.schema import INDEX_NAME, VALUE_COLUMNS, frame_from_arrays, ts_ms_of
from engine.ohlcv.timeframe import timeframe_name
from engine.ohlcv.store import Store

__all__ = ["QUOTE_ASSETS", "CandleFileError", "ImportedFile", "import_files", "read_candle_file"]

BINANCE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                   "taker_buy_base_volume", "taker_buy_quote_volume", "ignore")
# Quote assets Binance lists, to split `BTCUSDT` into `BTC/USDT`; the longest matching suffix wins.
QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "UST", "PAX", "BTC", "ETH", "BNB", "XRP",
                "TRX", "DOGE", "DOT", "EUR", "TRY", "BRL", "GBP", "JPY", "AUD", "RUB", "UAH", "NGN", "ZAR", "PLN",
                "RON", "ARS", "MXN", "COP", "CZK", "IDRT", "BIDR", "BKRW", "AEUR")
FORMATS = {"binance_klines": "Binance kline dump", "csv": "plain CSV", "parquet": "Parquet file"}
_OPTIONS = ("exchange", "symbol", "timeframe")
_EXAMPLES = {"exchange": "--exchange binance", "symbol": "--symbol BTC/USDT", "timeframe": "--timeframe 1m"}
_BINANCE_NAME = re.compile(r"^(?P<pair>[A-Z0-9]+)-(?P<timeframe>[0-9]+[A-Za-z]+)(?:-\d{4}-\d{2}(?:-\d{2})?)?$")
_PARQUET_NAME = re.compile(r"^(?P<exchange>[a-z0-9_]+?)_(?P<symbol>[A-Z0-9]+-[A-Z0-9]+(?:_[A-Z0-9]+(?:-[A-Z0-9.]+)*)?)"
                           r"_(?P<timeframe>[0-9]+[a-z])(?:_.*)?$")
# Epoch integers: the magnitude gives the unit (1e11 s is the year 5138, 1e11 ms is 1973), one per file.
_UNIT_BOUNDS = np.array([10**11, 10**14, 10**17], dtype=np.int64)
_UNITS = ("s", "ms", "us", "ns")  # pandas' unit names
_UNIT_TEXT = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_TO_MS_EXPONENT = {"s": 3, "ms": 0, "us": -3, "ns": -6}
_ROW = "__row"  # original row position, carried through repairs so errors still name the file line
_Where = Callable[[int], str]  # row position -> "<file> line N" (or "row N")


class CandleFileError(ValueError):
    """A file that cannot be read as candles: the message names the file, the line and what is wrong."""


@dataclass(frozen=True, slots=True)
class ImportedFile:
    """One file read and checked; `report` keeps the warnings (gaps, zero-volume runs) to show the user."""

    path: Path
    key: SeriesKey
    frame: pd.DataFrame  # checked cache frame
    report: quality.QualityReport
    format: str  # a key of FORMATS
    locate: Callable[[int], str]  # frame row -> "<file> line N (<open time>)", for `Issue.describe`
    replaced: Conflicts | None = None  # cached candles this file's rows replaced (only when asked to)


@dataclass(frozen=True, slots=True)
class _Parsed:
    ts_ms: np.ndarray
    values: dict[str, np.ndarray]
    where: _Where


def read_candle_file(path: Path, *, exchange: str | None = None, symbol: str | None = None,
                     timeframe: str | None = None, repair: Iterable[str] = (),
                     now_ms: int | None = None) -> ImportedFile:
    """Parse and check one file; names not given are inferred from the file name.

    `repair` (a subset of `quality.REPAIRS`) is applied before the check; without it any data error
    raises `quality.QualityError` naming the file lines. `now_ms` is the clock (default: wall clock).
    """
    path, repairs = Path(path), set(repair)
    unknown = repairs - quality.REPAIRS.keys()
    if unknown:
        raise ValueError(f"unknown repair(s) {', '.join(sorted(unknown))}; choose from {', '.join(quality.REPAIRS)}")
    now_ms = _wall_clock_ms() if now_ms is None else now_ms
    fmt, data, header = _open(path)
    key = _series_key(path, fmt, {"exchange": exchange, "symbol": symbol, "timeframe": timeframe})
    if fmt == "parquet":
        parsed = _parse_parquet(path)
    elif fmt == "binance_klines":
        parsed = _parse_binance(data, str(path), has_header=header is not None)
    else:
        parsed = _parse_plain(data, str(path), header or [])
    if not len(parsed.ts_ms):
        raise CandleFileError(f"{path}: no candles (the file has no data rows)")
    _check_spacing(parsed.ts_ms, key, str(path), given_timeframe=timeframe is not None)
    frame, report, locate = _checked(parsed, key, str(path), repairs, now_ms)
    return ImportedFile(path, key, frame, report, fmt, locate)


def import_files(store: Store, paths: Sequence[Path], *, exchange: str | None = None, symbol: str | None = None,
                 timeframe: str | None = None, repair: Iterable[str] = (), now_ms: int | None = None,
                 on_conflict: str = "refuse") -> list[ImportedFile]:
    """Read and check every file first, then write each to the store, so a bad file writes nothing.

    The given names apply to every file. A file whose rows would change cached candles is refused
    (`ConflictError`, the cache unchanged by it) unless `on_conflict="replace"`; files are written in
    order, so with replace the later of two overlapping files wins.
    """
    now_ms = _wall_clock_ms() if now_ms is None else now_ms
    repairs = tuple(repair)  # an iterator would be used up by the first file
    imported = [read_candle_file(Path(p), exchange=exchange, symbol=symbol, timeframe=timeframe,
                                 repair=repairs, now_ms=now_ms) for p in paths]
    written = []
    for item in imported:
        source = {"kind": "import", "file": item.path.name, "format": item.format}
        manifest = store.write(item.key, item.frame, source=source, obtained_ms=now_ms, on_conflict=on_conflict)
        replaced = manifest.sources[-1].get("replaced")
        written.append(dataclasses.replace(item, replaced=Conflicts.from_record(replaced) if replaced else None))
    return written


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


# -- formats and names -------------------------------------------------------------------------------
def _open(path: Path) -> tuple[str, bytes, list[str] | None]:
    """Format, CSV bytes and header cells (None when the first line is a candle); Parquet is read later."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet", b"", None
    if suffix == ".zip":
        data = _zip_member(path)
    elif suffix == ".csv":
        data = path.read_bytes()
    else:
        raise CandleFileError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected .csv, .zip or .parquet")
    fmt, header = _sniff(data, str(path))
    return fmt, data, header


def _zip_member(path: Path) -> bytes:
    """The one CSV inside a Binance dump zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise CandleFileError(f"{path}: expected exactly one .csv inside the zip, found {len(members)}")
            return archive.read(members[0])
    except zipfile.BadZipFile as exc:
        raise CandleFileError(f"{path}: not a readable zip file ({exc})") from exc


def _sniff(data: bytes, label: str) -> tuple[str, list[str] | None]:
    """A numeric first field means a headerless Binance dump; an `open_time` header a newer Binance
    dump; any other header is a plain CSV (which then needs a `timestamp` column)."""
    if not data.strip():
        raise CandleFileError(f"{label}: empty file")
    first = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip()
    cells = [cell.strip() for cell in next(csv.reader([first]), [])]
    if not cells or not cells[0]:
        raise CandleFileError(f"{label} line 1: expected a header or a candle row, found {first!r}")
    if _is_number(cells[0]):
        return "binance_klines", None
    names = [cell.lower() for cell in cells]
    return ("binance_klines" if names[0] == "open_time" else "csv"), names


def _series_key(path: Path, fmt: str, given: dict[str, str | None]) -> SeriesKey:
    """Names the caller gave win over names read from the file name; a missing one is an error."""
    inferred = _names_from_file_name(path, fmt)
    names = {option: given[option] or inferred.get(option) for option in _OPTIONS}
    missing = [option for option in _OPTIONS if not names[option]]
    if missing:
        what = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        raise ValueError(f"{path}: cannot tell the {what} of a {FORMATS[fmt]} named {path.name!r}; pass "
                         f"{' '.join('--' + m for m in missing)} (e.g. {' '.join(_EXAMPLES[m] for m in missing)})")
    try:
        return SeriesKey(names["exchange"], names["symbol"], names["timeframe"])
    except ValueError as exc:
        guessed = [f"--{o}" for o in _OPTIONS if not given[o]]
        hint = f"; pass {' / '.join(guessed)} to override the name read from the file name" if guessed else ""
        raise ValueError(f"{path}: {exc}{hint}") from exc


def _names_from_file_name(path: Path, fmt: str) -> dict[str, str]:
    """`BTCUSDT-1m-2024-01.zip` -> binance BTC/USDT 1m; `binance_BTC-USDT_5m[_...].parquet` likewise."""
    stem = path.name.split(".", 1)[0]
    if fmt == "binance_klines":
        names = {"exchange": "binance"}
        match = _BINANCE_NAME.match(stem)
        if match:
            names["timeframe"] = match["timeframe"]
            if (symbol := _split_pair(match["pair"])) is not None:
                names["symbol"] = symbol
        return names
    match = _PARQUET_NAME.match(stem) if fmt == "parquet" else None
    if match is None:
        return {}
    return {"exchange": match["exchange"], "symbol": symbol_from_disk(match["symbol"]), "timeframe": match["timeframe"]}


def _split_pair(pair: str) -> str | None:
    """`BTCUSDT` -> `BTC/USDT` by the longest known quote asset at the end; None when none fits."""
    for quote in sorted(QUOTE_ASSETS, key=len, reverse=True):
        if pair.endswith(quote) and len(pair) > len(quote):
            return f"{pair[: -len(quote)]}/{quote}"
    return None


# -- parsing ---------------------------------------------------------------------------------------
def _parse_binance(data: bytes, label: str, *, has_header: bool) -> _Parsed:
    """12 positional columns; open times in ms, or µs in spot dumps from 2025 on."""
    wanted = {0: ("open_time", pa.int64())} | {i + 1: (name, pa.float64()) for i, name in enumerate(VALUE_COLUMNS)}
    skip = int(has_header)
    columns = _read_csv(data, label, len(BINANCE_COLUMNS), wanted, skip)
    where = _line_locator(data, label, skip)
    ts_ms = _epoch_to_ms(columns["open_time"].to_numpy(), where)
    return _Parsed(ts_ms, {name: columns[name].to_numpy() for name in VALUE_COLUMNS}, where)


def _parse_plain(data: bytes, label: str, header: list[str]) -> _Parsed:
    """Header-named columns in any order, extra columns ignored; timestamps epoch s/ms/µs or ISO-8601."""
    required = (INDEX_NAME, *VALUE_COLUMNS)
    missing = [name for name in required if name not in header]
    if missing:
        raise CandleFileError(f"{label} line 1: missing column(s) {', '.join(missing)}; a CSV needs the header "
                              f"{','.join(required)} (any order), found {','.join(header)}")
    twice = [name for name in required if header.count(name) > 1]
    if twice:
        raise CandleFileError(f"{label} line 1: column(s) {', '.join(twice)} appear more than once in the header")
    wanted = {header.index(INDEX_NAME): (INDEX_NAME, pa.string())}
    wanted |= {header.index(name): (name, pa.float64()) for name in VALUE_COLUMNS}
    columns = _read_csv(data, label, len(header), wanted, skip=1)
    where = _line_locator(data, label, skip=1)
    ts_ms = _text_to_ms(columns[INDEX_NAME], where)
    return _Parsed(ts_ms, {name: columns[name].to_numpy() for name in VALUE_COLUMNS}, where)


def _parse_parquet(path: Path) -> _Parsed:
    """Our data format: `timestamp` int64 epoch ms (or an Arrow timestamp) plus the five float columns."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise CandleFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [name for name in (INDEX_NAME, *VALUE_COLUMNS) if name not in table.column_names]
    if missing:
        raise CandleFileError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(table.column_names)}")

    def where(pos: int) -> str:
        return f"{path} row {pos}"

    stamps = table.column(INDEX_NAME)
    if stamps.null_count:
        raise CandleFileError(f"{where(_first_null(stamps))}: timestamp is empty")
    if pa.types.is_timestamp(stamps.type):
        raw, unit = stamps.cast(pa.int64()).to_numpy(), stamps.type.unit
    elif pa.types.is_integer(stamps.type):
        raw, unit = stamps.cast(pa.int64()).to_numpy(), None
    else:
        raise CandleFileError(f"{path}: timestamp column has type {stamps.type}; expected int64 epoch ms or a timestamp")
    try:
        values = {name: table.column(name).cast(pa.float64()).to_numpy() for name in VALUE_COLUMNS}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise CandleFileError(f"{path}: a price or volume column is not numeric ({exc})") from exc
    return _Parsed(_epoch_to_ms(raw, where, unit), values, where)


def _first_null(column: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])


def _read_csv(data: bytes, label: str, ncols: int, wanted: dict[int, tuple[str, pa.DataType]],
              skip: int) -> dict[str, pa.ChunkedArray]:
    """The wanted columns (index -> name, type) of a CSV with `ncols` columns per row, strictly typed:
    an empty field is an error, not a NaN. On failure, find and name the first bad line."""
    names = [f"c{i}" for i in range(ncols)]
    options = pacsv.ConvertOptions(column_types={names[i]: kind for i, (_, kind) in wanted.items()},
                                   include_columns=[names[i] for i in wanted], null_values=[],
                                   strings_can_be_null=False, quoted_strings_can_be_null=False)
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip),
                               convert_options=options)
    except pa.ArrowInvalid as exc:
        raise _first_bad_line(data, label, ncols, wanted, skip) or CandleFileError(f"{label}: {exc}") from exc
    return {name: table.column(names[i]) for i, (name, _) in wanted.items()}


def _first_bad_line(data: bytes, label: str, ncols: int, wanted: dict[int, tuple[str, pa.DataType]],
                    skip: int) -> CandleFileError | None:
    """The slow path: walk the lines as the fast reader does and describe the first it cannot read."""
    numeric = {i: (name, pa.types.is_integer(kind)) for i, (name, kind) in wanted.items() if kind != pa.string()}
    text = data.decode("utf-8-sig", errors="replace")
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if number <= skip or not line:
            continue
        cells = next(csv.reader([line]))
        if len(cells) != ncols:
            return CandleFileError(f"{label} line {number}: expected {ncols} columns, found {len(cells)}: {line[:120]!r}")
        for i, (name, integer) in numeric.items():
            if not _is_number(cells[i], integer=integer):
                kind = "an integer" if integer else "a number"
                return CandleFileError(f"{label} line {number}: {name} {cells[i]!r} is not {kind}")
    return None


def _is_number(text: str, *, integer: bool = False) -> bool:
    if "_" in text:  # Python reads 1_000; the CSV reader does not
        return False
    try:
        (int if integer else float)(text)
    except ValueError:
        return False
    return True


def _line_locator(data: bytes, label: str, skip: int) -> _Where:
    """Row position -> file line; blank lines are skipped by the reader, so they are counted out here.
    The table is built on first use: only errors and warnings need it."""
    table: list[np.ndarray] = []

    def where(pos: int) -> str:
        if not table:
            lines = data.split(b"\n")
            table.append(np.array([n for n, line in enumerate(lines, start=1)
                                   if n > skip and line.rstrip(b"\r")], dtype=np.int64))
        return f"{label} line {int(table[0][pos])}"

    return where


# -- timestamps ------------------------------------------------------------------------------------
def _epoch_to_ms(raw: np.ndarray, where: _Where, unit: str | None = None) -> np.ndarray:
    """Epoch integers -> ms. Without `unit` it is read from the first value's magnitude (s, ms, µs or
    ns), and every row must agree; a value finer than a millisecond is refused, never rounded."""
    raw = np.asarray(raw, dtype=np.int64)
    if not len(raw):
        return raw
    if unit is None:
        units = np.searchsorted(_UNIT_BOUNDS, np.abs(raw), side="right")
        odd = np.flatnonzero(units != units[0])
        if len(odd):
            first, row = _UNIT_TEXT[_UNITS[units[0]]], int(odd[0])
            raise CandleFileError(f"{where(row)}: timestamp {raw[row]} looks like {_UNIT_TEXT[_UNITS[units[row]]]} "
                                  f"but the first row's looks like {first}; one unit per file")
        unit = _UNITS[units[0]]
    exponent = _TO_MS_EXPONENT[unit]
    if exponent >= 0:
        return raw * 10**exponent
    scale = 10**-exponent
    bad = np.flatnonzero(raw % scale)
    if len(bad):
        row = int(bad[0])
        raise CandleFileError(f"{where(row)}: timestamp {raw[row]} ({_UNIT_TEXT[unit]}) is not a whole millisecond")
    return raw // scale


def _text_to_ms(text: pa.ChunkedArray, where: _Where) -> np.ndarray:
    """Timestamp cells as epoch integers (unit by magnitude) or ISO-8601 text (naive means UTC); the
    first row decides which, and a row of the other kind is named."""
    cells = pd.Series(text.to_numpy(zero_copy_only=False), dtype="str").str.strip()
    if cells.empty:
        return np.empty(0, dtype=np.int64)
    digits = cells.str.fullmatch(r"-?[0-9]+").to_numpy(dtype=bool)
    if digits[0]:
        if not digits.all():
            row = int(np.flatnonzero(~digits)[0])
            raise CandleFileError(f"{where(row)}: timestamp {cells.iloc[row]!r} is not an epoch integer like the first row's")
        return _epoch_to_ms(cells.astype(np.int64).to_numpy(), where)
    stamps = pd.to_datetime(cells.where(~digits), utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        raise CandleFileError(f"{where(row)}: timestamp {cells.iloc[row]!r} is not ISO-8601 text like the first row's")
    index = pd.DatetimeIndex(stamps)
    return _epoch_to_ms(index.asi8, where, index.unit)


# -- checks ----------------------------------------------------------------------------------------
def _check_spacing(ts_ms: np.ndarray, key: SeriesKey, label: str, *, given_timeframe: bool) -> None:
    """Refuse candles whose spacing says they are another timeframe: 1h candles stored as 5m would be
    one candle and eleven "missing" ones per hour, and every annualized figure would be wrong.

    The candles fit when some two neighbours are exactly one timeframe apart and none are closer
    (gaps are allowed; repeated open times are left to the duplicate check)."""
    steps = np.diff(np.unique(ts_ms))
    if not len(steps):
        return
    wanted = key.timeframe_ms
    if steps.min() == wanted:
        return
    values, counts = np.unique(steps, return_counts=True)
    common = int(values[np.argmax(counts)])
    where = "--timeframe" if given_timeframe else "the timeframe read from the file name"
    raise CandleFileError(f"{label}: candles are {timeframe_name(common)} apart ({counts.max():,} of {len(steps):,} "
                          f"intervals; the closest two {timeframe_name(int(steps.min()))}), but {where} says "
                          f"{key.timeframe}; import them as --timeframe {timeframe_name(int(steps.min()))}")


def _checked(parsed: _Parsed, key: SeriesKey, label: str, repairs: set[str],
             now_ms: int) -> tuple[pd.DataFrame, quality.QualityReport, Callable[[int], str]]:
    """Repair (when asked), then check; errors raise `QualityError` naming the file lines."""
    frame = frame_from_arrays(parsed.ts_ms, parsed.values)
    rows = np.arange(len(frame))
    if repairs:
        tagged = quality.repair(frame.assign(**{_ROW: rows}), key.timeframe, repairs, now_ms=now_ms)
        rows, frame = tagged[_ROW].to_numpy(), tagged.drop(columns=_ROW)
    ts = ts_ms_of(frame)

    def locate(pos: int) -> str:
        return f"{parsed.where(int(rows[pos]))} ({quality.fmt_ts(int(ts[pos]))})"

    report = quality.check(frame, key.timeframe, now_ms=now_ms)
    if not report.ok:
        raise quality.QualityError(label, report, locate)
    return frame, report, locate
