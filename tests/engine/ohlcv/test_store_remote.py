"""The cache read at an fsspec URL: a folder served over loopback HTTP reads as the folder does (same rows, same
fingerprint), through its manifests alone; writes are refused; a URL that cannot be read is one line naming it."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from engine.ohlcv import SeriesKey, Store, load, to_ms
from engine.ohlcv.remote import ReadOnlyCacheError, RemoteCacheError
from engine.ohlcv.store import DamagedCacheError
from tests.conftest import btc_1h_store, make_candles
from tests.fakes import FolderServer

KEY = SeriesKey("binance", "BTC/USDT", "1h")
FOLDER = "/data/ohlcv/binance/BTC-USDT/1h"


@pytest.fixture
def local(tmp_path) -> Store:
    """The real BTC/USDT 1h candles of 2024-01 -> 2024-09 in tmp_path/data, nine monthly files."""
    return btc_1h_store(tmp_path / "data")


def test_a_cache_served_over_http_reads_as_the_folder_does_and_lists_no_folder(local, tmp_path):
    with FolderServer(tmp_path) as server:  # answers a folder's URL with 403: no listings
        remote = Store(f"{server.url}/data")
        start, end = to_ms("2024-03-10"), to_ms("2024-05-02")
        here, there = local.load_checked(KEY, start, end), remote.load_checked(KEY, start, end)
        asked = list(server.requests)
        whole = load("binance", "BTC/USDT", "1h", root=f"{server.url}/data")
    pd.testing.assert_frame_equal(here.frame, there.frame, check_exact=True)
    assert there.fingerprint == here.fingerprint and there.fingerprint["rows"] == (22 + 30 + 1) * 24
    months = {m: p.file for m, p in local.require(KEY).partitions.items()}
    assert asked == [f"{FOLDER}/manifest.json", *(f"{FOLDER}/{months[m]}" for m in ("2024-03", "2024-04", "2024-05"))]
    pd.testing.assert_frame_equal(whole, local.load(KEY), check_exact=True)
    assert there.locate(0) == f"{server.url}{FOLDER}/{months['2024-03']} row 216 (2024-03-10 00:00 UTC)"


def test_a_file_changed_on_the_server_is_refused_naming_its_url(local, tmp_path):
    part = local.require(KEY).partitions["2024-02"]
    path = KEY.folder(local.root) / part.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))
    with FolderServer(tmp_path) as server:
        with pytest.raises(DamagedCacheError) as raised:
            Store(f"{server.url}/data").load(KEY, to_ms("2024-02-01"), to_ms("2024-02-02"))
    assert f"{server.url}{FOLDER}/{part.file}: changed since it was written" in str(raised.value)


def test_a_lost_manifest_beside_partitions_stops_a_read_when_the_server_lists_folders(local, tmp_path):
    (KEY.folder(local.root) / "manifest.json").unlink()
    with FolderServer(tmp_path, listings=True) as server:
        with pytest.raises(DamagedCacheError) as raised:
            Store(f"{server.url}/data").load(KEY)
    assert f"{server.url}{FOLDER}/manifest.json is missing beside 9 partition file(s)" in str(raised.value)


def test_every_write_to_a_url_is_refused_naming_it_and_changes_nothing(local, tmp_path):
    before = sorted(p.name for p in KEY.folder(local.root).iterdir())
    with FolderServer(tmp_path) as server:
        remote = Store(f"{server.url}/data")
        manifest = remote.require(KEY)
        attempts = [lambda: remote.write(KEY, make_candles(10, start="2024-10-01"), source={"kind": "test"},
                                         obtained_ms=to_ms("2030-01-01")),
                    lambda: remote.swap_manifest(KEY, manifest), lambda: remote.locked(KEY).__enter__()]
        for attempt in attempts:
            with pytest.raises(ReadOnlyCacheError) as raised:
                attempt()
            assert str(raised.value).startswith(f"cannot write binance BTC/USDT 1h to the cache at {server.url}/data: "
                                                "a cache at a URL is only read")
        assert not [r for r in server.requests if r != f"{FOLDER}/manifest.json"]
    assert sorted(p.name for p in KEY.folder(local.root).iterdir()) == before


def test_a_cache_url_that_cannot_be_read_is_one_line_naming_it(local, tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RemoteCacheError) as refused:
        Store(f"http://reader:s3cret@127.0.0.1:{port}/data").load(KEY)
    assert str(refused.value) == (f"cannot read the cache at http://127.0.0.1:{port}/data{FOLDER[5:]}/manifest.json: "
                                  f"cannot connect to 127.0.0.1:{port} (Connection refused)")
    with FolderServer(tmp_path) as server:
        with pytest.raises(LookupError) as wrong:
            Store(f"{server.url}/elsewhere").load(KEY)
    assert str(wrong.value).startswith(f"binance BTC/USDT 1h is not in the cache at {server.url}/elsewhere: no "
                                       f"{server.url}/elsewhere/ohlcv/binance/BTC-USDT/1h/manifest.json")
    with pytest.raises(ValueError, match=r"^cache URL 'nosuch://bucket/data': Protocol not known: nosuch; give a "
                                         r"folder, or a URL fsspec reads"):
        Store("nosuch://bucket/data")


def test_a_file_url_is_the_folder_itself_and_may_be_written(local):
    store = Store(f"file://{local.root}")
    assert store.root == local.root and not store.remote
    store.write(KEY, make_candles(48, start="2024-10-01"), source={"kind": "test"}, obtained_ms=to_ms("2030-01-01"))
    assert local.require(KEY).last_ms == to_ms("2024-10-02T23:00")
