from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from engine.ohlcv import QualityError, SeriesKey, Store, load, to_ms
from engine.ohlcv.schema import ARROW_SCHEMA, to_table, ts_ms_of
from tests.conftest import make_candles

KEY = SeriesKey("binance", "BTC/USDT", "1h")
LATER = to_ms("2030-01-01")


def write(store: Store, frame: pd.DataFrame, key: SeriesKey = KEY):
    return store.write(key, frame, source={"kind": "test"}, obtained_ms=LATER)


def test_round_trip_keeps_every_value_and_the_utc_index(tmp_path):
    frame = make_candles(24 * 70, seed=1)  # Jan 1 → Mar 11: three monthly partitions
    manifest = write(Store(tmp_path), frame)
    assert sorted(manifest.partitions) == ["2024-01", "2024-02", "2024-03"]
    loaded = load("binance", "BTC/USDT", "1h", root=tmp_path)
    pd.testing.assert_frame_equal(loaded, frame)
    assert str(loaded.index.tz) == "UTC" and loaded.index.name == "timestamp"
    assert pq.read_schema(KEY.folder(tmp_path) / manifest.partitions["2024-02"].file).equals(ARROW_SCHEMA)


def test_range_reads_are_half_open_and_open_only_the_months_they_need(tmp_path):
    frame = make_candles(24 * 70, seed=2)
    manifest = write(Store(tmp_path), frame)
    (KEY.folder(tmp_path) / manifest.partitions["2024-01"].file).unlink()  # a read of Feb must not need Jan
    part = load("binance", "BTC/USDT", "1h", "2024-02-03", "2024-02-04T05:00", root=tmp_path)
    assert part.index[0] == pd.Timestamp("2024-02-03", tz="UTC")
    assert part.index[-1] == pd.Timestamp("2024-02-04T04:00", tz="UTC")
    pd.testing.assert_frame_equal(part, frame.loc["2024-02-03":"2024-02-04T04:00"])


def test_overlapping_writes_merge_and_the_newer_rows_win(tmp_path):
    store, frame = Store(tmp_path), make_candles(100, seed=3)
    write(store, frame.iloc[:60])
    revised = frame.iloc[40:].copy()
    revised.loc[revised.index[:5], "volume"] += 1.0
    manifest = write(store, revised)
    loaded = load("binance", "BTC/USDT", "1h", root=tmp_path)
    assert len(loaded) == 100 and manifest.rows == 100
    np.testing.assert_array_equal(loaded["volume"].to_numpy()[40:45], frame["volume"].to_numpy()[40:45] + 1.0)


def test_rewrites_leave_only_the_files_the_manifest_names(tmp_path):
    store = Store(tmp_path)
    for seed in range(3):
        manifest = write(store, make_candles(50, seed=seed))
    names = {p.name for p in KEY.folder(tmp_path).iterdir()}
    assert names == {"manifest.json", ".lock"} | {p.file for p in manifest.partitions.values()}
    assert store.verify_files(KEY) == []


def test_incoming_bad_rows_are_refused_and_nothing_is_written(tmp_path):
    frame = make_candles(10)
    frame.iloc[4, frame.columns.get_loc("high")] = 1.0  # high below open/close
    with pytest.raises(QualityError, match="invalid_ohlc"):
        write(Store(tmp_path), frame)
    assert not KEY.folder(tmp_path).exists() or not (KEY.folder(tmp_path) / "manifest.json").exists()


def test_loading_a_damaged_partition_names_the_file_and_row(tmp_path):
    store = Store(tmp_path)
    manifest = write(store, make_candles(30))
    path = KEY.folder(tmp_path) / manifest.partitions["2024-01"].file
    damaged = make_candles(30)
    damaged.iloc[7, damaged.columns.get_loc("low")] = 1e9  # low above open/close
    pq.write_table(to_table(damaged), path)
    with pytest.raises(QualityError) as caught:
        load("binance", "BTC/USDT", "1h", root=tmp_path)
    assert f"{path} row 7 (2024-01-01 07:00 UTC)" in str(caught.value)
    assert "drop_invalid" in str(caught.value)
    assert len(load("binance", "BTC/USDT", "1h", root=tmp_path, repair=["drop_invalid"])) == 29
    assert any("sha256 mismatch" in p for p in store.verify_files(KEY))


def test_a_candle_that_closed_after_the_data_was_obtained_is_an_error(tmp_path):
    frame = make_candles(5)
    closes_at = int(ts_ms_of(frame)[-1]) + KEY.timeframe_ms
    with pytest.raises(QualityError, match="incomplete_last"):
        Store(tmp_path).write(KEY, frame, source={"kind": "test"}, obtained_ms=closes_at - 1)
    Store(tmp_path).write(KEY, frame, source={"kind": "test"}, obtained_ms=closes_at)


def test_missing_series_error_says_what_is_cached_and_how_to_fill_it(tmp_path):
    write(Store(tmp_path), make_candles(5))
    with pytest.raises(LookupError, match=r"binance ETH/USDT 1h is not in the cache.*binance BTC/USDT 1h.*gauntlet data fetch"):
        load("binance", "ETH/USDT", "1h", root=tmp_path)


def test_manifest_records_coverage_source_and_fetch_time(tmp_path):
    frame = make_candles(48)
    Store(tmp_path).write(KEY, frame, source={"kind": "ccxt", "exchange": "binance"}, obtained_ms=LATER,
                          fetched=(int(ts_ms_of(frame)[0]), LATER))
    body = json.loads((KEY.folder(tmp_path) / "manifest.json").read_text())
    assert body["coverage"] == {"first_ms": int(ts_ms_of(frame)[0]), "last_ms": int(ts_ms_of(frame)[-1]), "rows": 48}
    assert body["sources"][-1]["exchange"] == "binance" and body["obtained_ms"] == LATER
    assert body["fetched"] == [[int(ts_ms_of(frame)[0]), LATER]]


@pytest.mark.parametrize("bad, message", [
    (dict(exchange="Binance"), "lower-case ccxt id"),
    (dict(symbol="BTCUSDT"), "BASE/QUOTE"),
    (dict(timeframe="1M"), "monthly"),
    (dict(timeframe="7x"), "unknown timeframe"),
])
def test_series_names_are_validated(bad, message):
    with pytest.raises(ValueError, match=message):
        SeriesKey(**{"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h", **bad})


def test_load_can_build_a_coarser_timeframe_from_a_finer_series(tmp_path):
    from engine.ohlcv.resample import resample

    frame = make_candles(24 * 10, timeframe="1h")
    write(Store(tmp_path), frame)
    four = load("binance", "BTC/USDT", "4h", "2024-01-02T02:00", "2024-01-03T05:00", from_timeframe="1h", root=tmp_path)
    assert four.index[0] == pd.Timestamp("2024-01-02T04:00", tz="UTC")  # 00:00 would start before `start`
    assert four.index[-1] == pd.Timestamp("2024-01-03T04:00", tz="UTC")  # opens before `end`, complete in cache
    pd.testing.assert_frame_equal(four, resample(frame, "1h", "4h").loc["2024-01-02T04:00":"2024-01-03T04:00"])
