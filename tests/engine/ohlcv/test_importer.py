"""Importing candle files: every format round-trips real candles exactly, and bad files write nothing.

Inputs are built in tmp_path from the real candles in the `shared/data` folder beside the repo; those
files are read in place and never copied into the repo.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ohlcv import quality
from engine.ohlcv.importer import CandleFileError, import_files, read_candle_file
from engine.ohlcv.layout import SeriesKey
from engine.ohlcv.schema import VALUE_COLUMNS, frame_from_arrays
from engine.ohlcv.store import Store
from tests.conftest import SHARED_DATA

BTC_1M = SeriesKey("binance", "BTC/USDT", "1m")
DAY_MS = 86_400_000
JUNE_1_MS = 1_748_736_000_000  # 2025-06-01 00:00 UTC


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    """One day (1,440 rows) of real BTC/USDT 1m candles, columns timestamp (ms) + open..volume."""
    filters = [("timestamp", ">=", JUNE_1_MS), ("timestamp", "<", JUNE_1_MS + DAY_MS)]
    rows = pq.read_table(SHARED_DATA / "binance_BTC-USDT_1m.parquet", filters=filters).to_pandas()
    assert len(rows) == 1440
    return rows


def as_cache_frame(rows: pd.DataFrame) -> pd.DataFrame:
    return frame_from_arrays(rows["timestamp"].to_numpy(), {c: rows[c].to_numpy() for c in VALUE_COLUMNS})


def binance_dump(rows: pd.DataFrame, *, micro: bool = False, header: bool = False) -> str:
    """The 12-column kline layout, with Binance's 8-decimal numbers (exact for these candles)."""
    scale = 1000 if micro else 1
    dump = pd.DataFrame({
        "open_time": rows["timestamp"] * scale,
        **{c: rows[c] for c in VALUE_COLUMNS},
        "close_time": (rows["timestamp"] + 60_000) * scale - 1,
        "quote_volume": rows["volume"] * rows["close"],
        "count": 100,
        "taker_buy_base_volume": rows["volume"] / 2,
        "taker_buy_quote_volume": rows["volume"] * rows["close"] / 2,
        "ignore": 0,
    })
    return dump.to_csv(index=False, header=header, float_format="%.8f", lineterminator="\n")


def write_dump(folder: Path, stem: str, text: str, container: str) -> Path:
    """`<stem>.csv`, or `<stem>.zip` holding `<stem>.csv` as data.binance.vision ships them."""
    path = folder / f"{stem}.{container}"
    if container == "csv":
        path.write_text(text)
    else:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{stem}.csv", text)
    return path


def plain_csv(rows: pd.DataFrame, *, iso: bool = False) -> str:
    """Shuffled column order plus an extra column, to show order is free and extras are ignored."""
    stamps = pd.to_datetime(rows["timestamp"], unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S") if iso else rows["timestamp"]
    frame = pd.DataFrame({"close": rows["close"], "note": "x", "timestamp": stamps, "open": rows["open"],
                          "volume": rows["volume"], "low": rows["low"], "high": rows["high"]})
    return frame.to_csv(index=False, float_format="%.8f", lineterminator="\n")


def nothing_written(root: Path) -> bool:
    return not list(root.rglob("manifest.json"))


def lines_of(text: str) -> list[str]:
    return text.splitlines(keepends=True)


# -- formats ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("container", ["csv", "zip"])
def test_binance_dump_round_trips_exactly_with_names_from_the_file_name(tmp_path, day, container):
    path = write_dump(tmp_path, "BTCUSDT-1m-2025-06-01", binance_dump(day), container)
    [imported] = import_files(Store(tmp_path / "cache"), [path])
    assert imported.key == BTC_1M and imported.format == "binance_klines" and imported.report.ok
    loaded = Store(tmp_path / "cache").load(BTC_1M)
    pd.testing.assert_frame_equal(loaded, as_cache_frame(day), check_exact=True)


@pytest.mark.parametrize("container", ["csv", "zip"])
def test_binance_dump_with_header_and_microseconds(tmp_path, day, container):
    text = binance_dump(day, micro=True, header=True)
    assert text.startswith("open_time,") and text.splitlines()[1].startswith("1748736000000000,")
    path = write_dump(tmp_path, "BTCUSDT-1m-2025-06-01", text, container)
    import_files(Store(tmp_path / "cache"), [path])
    pd.testing.assert_frame_equal(Store(tmp_path / "cache").load(BTC_1M), as_cache_frame(day), check_exact=True)


@pytest.mark.parametrize("iso", [True, False], ids=["iso", "epoch_ms"])
def test_plain_csv_with_options(tmp_path, day, iso):
    path = tmp_path / "candles.csv"
    path.write_text(plain_csv(day, iso=iso))
    [imported] = import_files(Store(tmp_path / "cache"), [path], exchange="binance", symbol="BTC/USDT", timeframe="1m")
    assert imported.format == "csv"
    pd.testing.assert_frame_equal(Store(tmp_path / "cache").load(BTC_1M), as_cache_frame(day), check_exact=True)


@settings(max_examples=30, deadline=None)
@given(ts_ms=st.integers(946_684_800_000, 4_102_444_800_000).map(lambda t: t // 60_000 * 60_000),
       unit=st.sampled_from(["s", "ms", "us", "iso", "iso_offset"]))
def test_plain_csv_timestamp_units_agree(tmp_path_factory, ts_ms, unit):
    """The same open time written in s, ms, µs or ISO text (naive = UTC, or with an offset) reads back the same."""
    stamp = pd.Timestamp(ts_ms, unit="ms", tz="UTC")
    cell = {"s": str(ts_ms // 1000), "ms": str(ts_ms), "us": str(ts_ms * 1000),
            "iso": stamp.strftime("%Y-%m-%d %H:%M:%S"),
            "iso_offset": stamp.tz_convert("Asia/Kolkata").isoformat()}[unit]
    path = tmp_path_factory.mktemp("units") / "one.csv"
    path.write_text(f"timestamp,open,high,low,close,volume\n{cell},1,2,0.5,1.5,10\n")
    imported = read_candle_file(path, exchange="binance", symbol="BTC/USDT", timeframe="1m", now_ms=ts_ms + DAY_MS)
    assert imported.frame.index[0] == stamp


def test_plain_csv_needs_the_names(tmp_path, day):
    path = tmp_path / "candles.csv"
    path.write_text(plain_csv(day.head(10)))
    with pytest.raises(ValueError, match="--exchange --symbol --timeframe") as info:
        import_files(Store(tmp_path / "cache"), [path])
    assert "candles.csv" in str(info.value)
    with pytest.raises(ValueError, match="symbol") as info:
        read_candle_file(path, exchange="binance", timeframe="1m")
    assert "--symbol" in str(info.value) and "--exchange" not in str(info.value)
    assert nothing_written(tmp_path)


def test_binance_dump_with_an_unknown_quote_asks_for_the_symbol(tmp_path, day):
    path = tmp_path / "BTCXYZ-1m-2025-06-01.csv"
    path.write_text(binance_dump(day.head(5)))
    with pytest.raises(ValueError, match="--symbol") as info:
        read_candle_file(path)
    assert "BTCXYZ-1m-2025-06-01.csv" in str(info.value)
    assert read_candle_file(path, symbol="BTC/XYZ").key == SeriesKey("binance", "BTC/XYZ", "1m")


def test_options_override_names_from_the_file_name(tmp_path, day):
    path = tmp_path / "ETHBTC-1m-2025-06.csv"
    path.write_text(binance_dump(day.head(5)))
    assert read_candle_file(path).key == SeriesKey("binance", "ETH/BTC", "1m")  # longest quote suffix
    key = read_candle_file(path, exchange="binanceus", symbol="BTC/USDT").key
    assert key == SeriesKey("binanceus", "BTC/USDT", "1m")


def test_real_5m_parquet_reports_gaps_and_zero_volume(tmp_path):
    source = SHARED_DATA / "binance_BTC-USDT_5m.parquet"
    [imported] = import_files(Store(tmp_path), [source])
    assert imported.key == SeriesKey("binance", "BTC/USDT", "5m") and imported.format == "parquet"
    report = imported.report
    assert report.ok and len(report.gaps) == 6 and report.missing_candles == 177
    assert any(issue.kind == "zero_volume_run" for issue in report.warnings)
    assert "line" not in imported.locate(0) and "row 5930 (2020-12-21 18:00 UTC)" in report.gaps[0].describe(imported.locate)
    loaded = Store(tmp_path).load(imported.key)
    pd.testing.assert_frame_equal(loaded, as_cache_frame(pd.read_parquet(source)), check_exact=True)


def test_parquet_name_with_a_period_suffix():
    imported = read_candle_file(SHARED_DATA / "binance_BTC-USDT_1h_2024-01_2024-09.parquet")
    assert imported.key == SeriesKey("binance", "BTC/USDT", "1h") and len(imported.frame) == 5980


# -- bad input -------------------------------------------------------------------------------------
def test_duplicate_row_names_its_line_and_dedupe_repairs_it(tmp_path, day):
    lines = lines_of(plain_csv(day.head(20)))
    lines.insert(11, lines[10])  # line 11 (row 9) repeated as line 12
    path = tmp_path / "dup.csv"
    path.write_text("".join(lines))
    names = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}
    with pytest.raises(quality.QualityError, match="duplicate") as info:
        import_files(Store(tmp_path / "cache"), [path], **names)
    assert f"{path} line 12 (2025-06-01 00:09 UTC)" in str(info.value)
    assert nothing_written(tmp_path)
    import_files(Store(tmp_path / "cache"), [path], repair=["dedupe"], **names)
    pd.testing.assert_frame_equal(Store(tmp_path / "cache").load(BTC_1M), as_cache_frame(day.head(20)), check_exact=True)


def test_errors_after_a_repair_still_name_the_original_line(tmp_path, day):
    lines = lines_of(binance_dump(day.head(20)))
    lines.insert(3, lines[2])  # a duplicate at line 4, removed by dedupe
    cells = lines[15].split(",")
    cells[2], cells[3] = cells[3], cells[2]  # line 16: high below low
    lines[15] = ",".join(cells)
    path = tmp_path / "BTCUSDT-1m-2025-06-01.csv"
    path.write_text("".join(lines))
    with pytest.raises(quality.QualityError, match="invalid_ohlc") as info:
        read_candle_file(path, repair=["dedupe"])
    assert "line 16 (2025-06-01 00:14 UTC)" in str(info.value) and "drop_invalid" in str(info.value)


@pytest.mark.parametrize(("dump", "column"), [(False, "close"), (True, "high")], ids=["plain_csv", "binance_dump"])
def test_non_numeric_price_names_line_7(tmp_path, day, dump, column):
    lines = lines_of(binance_dump(day.head(20)) if dump else plain_csv(day.head(20)))
    cells = lines[6].split(",")
    cells[2 if dump else 0] = "n/a"  # high in the dump layout, close first in the shuffled plain CSV
    lines[6] = ",".join(cells)
    path = tmp_path / ("BTCUSDT-1m-2025-06-01.csv" if dump else "bad.csv")
    path.write_text("".join(lines))
    with pytest.raises(CandleFileError, match=f"line 7: {column} 'n/a' is not a number") as info:
        import_files(Store(tmp_path / "cache"), [path], exchange="binance", symbol="BTC/USDT", timeframe="1m")
    assert str(path) in str(info.value)
    assert nothing_written(tmp_path)


def test_wrong_column_count(tmp_path, day):
    lines = lines_of(binance_dump(day.head(20)))
    lines[4] = lines[4].rsplit(",", 1)[0] + "\n"  # 11 fields on line 5
    path = tmp_path / "BTCUSDT-1m-2025-06-01.csv"
    path.write_text("".join(lines))
    with pytest.raises(CandleFileError, match="line 5: expected 12 columns, found 11"):
        import_files(Store(tmp_path / "cache"), [path])
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n", "timestamp,open,high,low,close,volume\n"], ids=["empty", "blank", "header_only"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(CandleFileError, match="empty file|no candles") as info:
        import_files(Store(tmp_path / "cache"), [path], exchange="binance", symbol="BTC/USDT", timeframe="1m")
    assert str(path) in str(info.value)
    assert nothing_written(tmp_path)


def test_high_below_low_names_the_line(tmp_path, day):
    rows = day.head(20).copy()
    rows.loc[rows.index[5], "high"] = rows["low"].iloc[5] - 1.0  # row 5 -> line 7 under the header
    path = tmp_path / "bad.csv"
    path.write_text(plain_csv(rows))
    with pytest.raises(quality.QualityError, match="invalid_ohlc") as info:
        import_files(Store(tmp_path / "cache"), [path], exchange="binance", symbol="BTC/USDT", timeframe="1m")
    assert f"{path} line 7 (2025-06-01 00:05 UTC)" in str(info.value)
    assert nothing_written(tmp_path)


def test_one_bad_file_in_a_batch_writes_nothing(tmp_path, day):
    good, bad = tmp_path / "BTCUSDT-1m-2025-06-01.csv", tmp_path / "BTCUSDT-1m-2025-06-02.csv"
    good.write_text(binance_dump(day.head(10)))
    bad.write_text(binance_dump(day.iloc[10:20]).replace("\n", "\nnot,a,row\n", 1))
    with pytest.raises(CandleFileError, match="BTCUSDT-1m-2025-06-02.csv line 2: expected 12 columns, found 3"):
        import_files(Store(tmp_path / "cache"), [good, bad])
    assert nothing_written(tmp_path)


def test_blank_lines_are_skipped_but_counted(tmp_path, day):
    lines = lines_of(plain_csv(day.head(10)))
    lines.insert(3, "\n")
    lines.insert(6, lines[5])  # the duplicate sits on line 7
    path = tmp_path / "blank.csv"
    path.write_text("".join(lines))
    with pytest.raises(quality.QualityError, match=r"blank\.csv line 7 \("):
        read_candle_file(path, exchange="binance", symbol="BTC/USDT", timeframe="1m")


@pytest.mark.parametrize(("cells", "message"), [
    (["1748736000000", "1748736060000000"], "line 3: timestamp 1748736060000000 looks like microseconds"),
    (["2025-06-01T00:00:00", "yesterday"], "line 3: timestamp 'yesterday' is not ISO-8601 text"),
    (["1748736000000", "2025-06-01T00:01:00"], "line 3: timestamp '2025-06-01T00:01:00' is not an epoch integer"),
    (["1748736000000000", "1748736060000500"], "line 3: timestamp 1748736060000500 (microseconds) is not a whole"),
])
def test_bad_timestamps_name_the_line(tmp_path, cells, message):
    path = tmp_path / "ts.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "".join(f"{c},1,2,0.5,1.5,10\n" for c in cells))
    with pytest.raises(CandleFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_candle_file(path, exchange="binance", symbol="BTC/USDT", timeframe="1m")


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("timestamp,open,high,close\n1748736000000,1,2,1.5\n")
    with pytest.raises(CandleFileError, match=r"cols\.csv line 1: missing column\(s\) low, volume"):
        read_candle_file(path, exchange="binance", symbol="BTC/USDT", timeframe="1m")


def test_unknown_repair_and_file_type(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[]")
    with pytest.raises(ValueError, match="unknown repair"):
        read_candle_file(path, repair=["fill_gaps"])
    with pytest.raises(CandleFileError, match="unsupported file type '.json'"):
        read_candle_file(path)


def test_an_unfinished_last_candle_is_an_error_unless_dropped(tmp_path, day):
    path = tmp_path / "BTCUSDT-1m-2025-06-01.csv"
    path.write_text(binance_dump(day.head(10)))
    now_ms = JUNE_1_MS + 9 * 60_000 + 30_000  # half-way through the tenth candle
    with pytest.raises(quality.QualityError, match=r"incomplete_last .* line 10 \("):
        read_candle_file(path, now_ms=now_ms)
    imported = read_candle_file(path, now_ms=now_ms, repair=["drop_incomplete"])
    assert len(imported.frame) == 9 and np.isfinite(imported.frame.to_numpy()).all()
