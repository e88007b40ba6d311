from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from engine.ohlcv import QualityError, SeriesKey, Store, load, to_ms
from engine.ohlcv.conflicts import ConflictError
from engine.ohlcv.store import DamagedCacheError
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


def test_overlapping_writes_with_the_same_values_merge(tmp_path):
    store, frame = Store(tmp_path), make_candles(100, seed=3)
    write(store, frame.iloc[:60])
    manifest = write(store, frame.iloc[40:])
    assert manifest.rows == 100 and "replaced" not in manifest.sources[-1]
    pd.testing.assert_frame_equal(load("binance", "BTC/USDT", "1h", root=tmp_path), frame)


def test_a_write_that_would_change_cached_candles_is_refused_and_changes_nothing(tmp_path):
    store, frame = Store(tmp_path), make_candles(100, seed=3)
    write(store, frame.iloc[:60])
    before = {p.name: p.read_bytes() for p in KEY.folder(tmp_path).iterdir()}
    revised = frame.iloc[40:].copy()
    revised.loc[revised.index[:5], "volume"] += 1.0
    revised.loc[revised.index[0], "close"] = 1e12
    revised.loc[revised.index[0], "high"] = 1e12
    revised.loc[revised.index[15], "volume"] *= 2
    with pytest.raises(ConflictError) as caught:
        write(store, revised)
    assert caught.value.conflicts.rows == 6
    assert caught.value.conflicts.first_ms == to_ms(frame.index[40]) and caught.value.conflicts.last_ms == to_ms(frame.index[55])
    assert "close" in str(caught.value) and "1e+12" in str(caught.value) and "--replace" in str(caught.value)
    assert {p.name: p.read_bytes() for p in KEY.folder(tmp_path).iterdir()} == before


def test_replace_takes_the_new_values_and_records_what_it_replaced(tmp_path):
    store, frame = Store(tmp_path), make_candles(100, seed=3)
    write(store, frame.iloc[:60])
    revised = frame.iloc[40:].copy()
    revised.loc[revised.index[:5], "volume"] += 1.0
    manifest = store.write(KEY, revised, source={"kind": "test"}, obtained_ms=LATER, on_conflict="replace")
    loaded = load("binance", "BTC/USDT", "1h", root=tmp_path)
    assert len(loaded) == 100 and manifest.rows == 100
    np.testing.assert_array_equal(loaded["volume"].to_numpy()[40:45], frame["volume"].to_numpy()[40:45] + 1.0)
    replaced = Store(tmp_path).manifest(KEY).sources[-1]["replaced"]
    assert replaced["rows"] == 5 and replaced["examples"][0]["old"][4] == frame["volume"].iloc[40]


def test_the_same_file_shifted_by_a_time_zone_is_a_conflict(tmp_path):
    store, frame = Store(tmp_path), make_candles(24 * 10, seed=4)
    write(store, frame)
    shifted = frame.copy()
    shifted.index = shifted.index + pd.Timedelta(hours=2)
    with pytest.raises(ConflictError) as caught:
        write(store, shifted)
    assert caught.value.conflicts.rows == 24 * 10 - 2
    pd.testing.assert_frame_equal(load("binance", "BTC/USDT", "1h", root=tmp_path), frame)


def test_rewrites_leave_only_the_files_the_manifest_names(tmp_path):
    store = Store(tmp_path)
    for seed in range(3):
        manifest = store.write(KEY, make_candles(50, seed=seed), source={"kind": "test"}, obtained_ms=LATER,
                               on_conflict="replace")
    names = {p.name for p in KEY.folder(tmp_path).iterdir()}
    assert names == {"manifest.json", ".lock"} | {p.file for p in manifest.partitions.values()}
    assert store.verify_files(KEY) == []


def test_incoming_bad_rows_are_refused_and_nothing_is_written(tmp_path):
    frame = make_candles(10)
    frame.iloc[4, frame.columns.get_loc("high")] = 1.0  # high below open/close
    with pytest.raises(QualityError, match="invalid_ohlc"):
        write(Store(tmp_path), frame)
    assert not KEY.folder(tmp_path).exists() or not (KEY.folder(tmp_path) / "manifest.json").exists()


def test_a_partition_rewritten_with_other_prices_is_refused_naming_the_file_and_the_repair(tmp_path):
    store = Store(tmp_path)
    manifest = write(store, make_candles(30))
    path = KEY.folder(tmp_path) / manifest.partitions["2024-01"].file
    altered = make_candles(30)
    altered.iloc[7, altered.columns.get_loc("volume")] += 5.0
    pq.write_table(to_table(altered), path)  # valid Parquet, valid candles, other values
    for read in (lambda: load("binance", "BTC/USDT", "1h", root=tmp_path),
                 lambda: load("binance", "BTC/USDT", "1h", root=tmp_path, repair=["drop_invalid"])):
        with pytest.raises(DamagedCacheError) as caught:
            read()
        assert str(path) in str(caught.value) and "changed since it was written" in str(caught.value)
        assert "gauntlet data repair binance BTC/USDT 1h" in str(caught.value)
    assert any("changed since it was written" in p for p in store.verify_files(KEY))


@pytest.mark.parametrize("damage", ["truncate", "delete", "garble"])
def test_a_truncated_missing_or_garbled_partition_gets_the_same_clear_error(tmp_path, damage):
    manifest = write(Store(tmp_path), make_candles(24 * 40, seed=6))
    path = KEY.folder(tmp_path) / manifest.partitions["2024-02"].file
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        path.unlink()
    else:
        path.write_bytes(data[:100] + bytes(len(data) - 100))  # same size, zeros
    with pytest.raises(DamagedCacheError) as caught:
        load("binance", "BTC/USDT", "1h", root=tmp_path)
    message = str(caught.value)
    assert str(path) in message and "gauntlet data repair binance BTC/USDT 1h" in message
    assert {"truncate": "truncated", "delete": "missing", "garble": "changed since it was written"}[damage] in message
    assert len(load("binance", "BTC/USDT", "1h", end="2024-02-01", root=tmp_path)) == 24 * 31  # January still reads


def test_the_fingerprint_is_of_the_bytes_read_and_changes_with_them(tmp_path):
    store = Store(tmp_path)
    write(store, make_candles(24 * 40, seed=7))
    whole, january = store.read(KEY).fingerprint, store.read(KEY, None, to_ms("2024-02-01")).fingerprint
    assert whole["sha256"] != january["sha256"] and january["files"] == [store.manifest(KEY).partitions["2024-01"].file]
    assert whole == Store(tmp_path).read(KEY).fingerprint  # same bytes, same fingerprint
    revised = make_candles(24 * 40, seed=7)
    revised.iloc[-1, revised.columns.get_loc("volume")] += 1.0  # one February candle
    store.write(KEY, revised, source={"kind": "test"}, obtained_ms=LATER, on_conflict="replace")
    assert store.read(KEY).fingerprint["sha256"] != whole["sha256"]
    assert store.read(KEY, None, to_ms("2024-02-01")).fingerprint == january


def test_a_missing_manifest_is_an_error_and_the_partition_files_stay(tmp_path):
    store = Store(tmp_path)
    write(store, make_candles(24 * 60, seed=8))
    folder = KEY.folder(tmp_path)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".parquet"}
    (folder / "manifest.json").unlink()
    for attempt in (lambda: write(store, make_candles(200, seed=9, start="2024-03-01")),
                    lambda: load("binance", "BTC/USDT", "1h", root=tmp_path)):
        with pytest.raises(DamagedCacheError, match=r"(?s)manifest.json is missing beside 2 partition file.*gauntlet data repair"):
            attempt()
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".parquet"} == files
    assert KEY in store.series()


def test_an_unreadable_manifest_is_an_error_naming_it(tmp_path):
    store = Store(tmp_path)
    write(store, make_candles(30))
    (KEY.folder(tmp_path) / "manifest.json").write_text("{not json")
    with pytest.raises(DamagedCacheError, match=r"(?s)manifest.json: unreadable manifest.*gauntlet data repair"):
        write(store, make_candles(30))


def test_files_the_manifest_does_not_name_are_never_deleted(tmp_path):
    store, frame = Store(tmp_path), make_candles(60)
    first = write(store, frame.iloc[:30])
    folder = KEY.folder(tmp_path)
    stranger = folder / "2023-12.0123456789ab.parquet"  # a partition-like file nobody retired
    notes = folder / "my-notes.txt"
    stranger.write_bytes(b"somebody's data")
    notes.write_text("keep me")
    leftover_tmp = folder / ".2024-01.0123456789ab.parquet.deadbeef.tmp"
    leftover_tmp.write_bytes(b"half a file")
    second = write(store, frame)
    assert stranger.read_bytes() == b"somebody's data" and notes.read_text() == "keep me"
    assert not leftover_tmp.exists()
    retired = first.partitions["2024-01"].file
    assert second.retired == (retired,) and not (folder / retired).exists()  # the file this write replaced


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
