"""The loopback Binance emulator speaks what the real exchange speaks, to the real ccxt clients."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.ohlcv import to_ms
from engine.ohlcv.schema import ts_ms_of
from engine.venues.ccxt_client import make_exchange
from engine.venues.emulator import BinanceEmulator, Fault, Feed
from tests.conftest import SHARED_DATA, shared_candles

FIXTURES = SHARED_DATA / "fixtures" / "binance_spot"
REAL_KLINES = json.loads((FIXTURES / "nautilus_python_http_responses" / "http_spot_market_klines.json").read_text())
REAL_INFO = json.loads((FIXTURES / "nautilus_python_http_responses" / "http_spot_market_exchange_info.json").read_text())


def get(emulator: BinanceEmulator, path: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(emulator.base_url + path, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_it_binds_only_the_loopback_address(emulator_5m):
    assert emulator_5m.base_url.startswith("http://127.0.0.1:")


def test_klines_rows_have_the_types_and_layout_of_a_real_binance_response(emulator_5m):
    status, rows = get(emulator_5m, "/api/v3/klines?symbol=BTCUSDT&interval=5m&limit=3&startTime=1619294400000")
    assert status == 200 and len(rows) == 3
    for ours, real in zip(rows, REAL_KLINES, strict=False):
        assert [type(v) for v in ours] == [type(v) for v in real]
    assert rows[0][0] == 1619294400000 and rows[0][6] == 1619294400000 + 300_000 - 1  # closeTime = open + tf - 1


def test_exchange_info_carries_the_real_fields_ccxt_reads(emulator_5m):
    status, info = get(emulator_5m, "/api/v3/exchangeInfo")
    (ours,) = info["symbols"]
    real = REAL_INFO["symbols"][0]
    assert status == 200 and set(real) <= set(ours)  # every field of the real 2021 entry is there
    assert {"PRICE_FILTER", "LOT_SIZE"} <= {f["filterType"] for f in ours["filters"]}
    market = make_exchange("binance", api_url=emulator_5m.base_url, rate_limit=False).load_markets()["BTC/USDT"]
    assert market["precision"]["price"] == 0.01 and market["precision"]["amount"] == 1e-05
    assert market["limits"]["cost"]["min"] == 5.0 and market["spot"] and market["active"]


def test_klines_follow_binance_start_end_and_limit_rules(emulator_5m):
    start = 1619294400000  # 2021-04-24 20:00
    _, page = get(emulator_5m, f"/api/v3/klines?symbol=BTCUSDT&interval=5m&startTime={start}&endTime={start + 600_000}")
    assert [r[0] for r in page] == [start, start + 300_000, start + 600_000]  # endTime is inclusive
    _, latest = get(emulator_5m, "/api/v3/klines?symbol=BTCUSDT&interval=5m&limit=2")
    assert [r[0] for r in latest] == [int(t) for t in ts_ms_of(shared_candles("binance_BTC-USDT_5m.parquet"))[-2:]]
    assert get(emulator_5m, "/api/v3/klines?symbol=BTCUSDT&interval=5m&limit=1001") == (
        400, {"code": -1130, "msg": "Invalid data sent for a parameter."})
    assert get(emulator_5m, "/api/v3/klines?symbol=DOGEUSDT&interval=5m") == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert get(emulator_5m, "/api/v3/time") == (200, {"serverTime": emulator_5m.clock.now_ms()})


def test_the_clock_decides_which_candles_exist_and_serves_the_open_one_partially(emulator_5m):
    opened = to_ms("2021-04-24T20:00")
    emulator_5m.clock.set(opened + 120_000)  # two minutes into the 20:00 candle
    _, rows = get(emulator_5m, f"/api/v3/klines?symbol=BTCUSDT&interval=5m&startTime={opened - 300_000}")
    assert [r[0] for r in rows] == [opened - 300_000, opened]
    final = shared_candles("binance_BTC-USDT_5m.parquet").loc["2021-04-24 20:00"]
    partial = [float(v) for v in rows[-1][1:6]]
    assert partial[0] == final["open"] and partial[4] < final["volume"] and rows[-1][6] > emulator_5m.clock.now_ms()
    assert final["low"] <= partial[2] <= partial[1] <= final["high"]


def test_faults_are_served_as_binance_serves_them(emulator_5m):
    emulator_5m.inject(Fault("rate_limit", retry_after_s=3), Fault("ip_ban"))
    request = urllib.request.Request(emulator_5m.base_url + "/api/v3/time")
    with pytest.raises(urllib.error.HTTPError) as first:
        urllib.request.urlopen(request, timeout=5)
    assert first.value.code == 429 and first.value.headers["Retry-After"] == "3"
    assert json.loads(first.value.read())["code"] == -1003
    first.value.close()
    status, body = get(emulator_5m, "/api/v3/time")
    assert status == 418 and "IP banned until" in body["msg"]
    assert get(emulator_5m, "/api/v3/time")[0] == 200  # each fault was for one request only
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("meteor")


def test_the_async_ccxt_client_works_against_it(emulator_5m):
    async def run() -> list[list[float]]:
        exchange = make_exchange("binance", api_url=emulator_5m.base_url, rate_limit=False, async_=True)
        try:
            await exchange.load_markets()
            pages = await asyncio.gather(*(exchange.fetch_ohlcv("BTC/USDT", "5m", since=to_ms("2021-04-24") + i * 3_000_000,
                                                                limit=10) for i in range(4)))
            return [row for page in pages for row in page]
        finally:
            await exchange.close()

    rows = asyncio.run(run())
    assert len(rows) == 40 and len({r[0] for r in rows}) == 40


def test_feeds_load_the_shared_format_and_refuse_unsorted_files(tmp_path):
    feed = Feed.from_parquet(SHARED_DATA / "binance_BTC-USDT_1d.parquet", "BTC/USDT", "1d")
    assert len(feed.ts_ms) == 249 and feed.values.shape == (249, 5)
    table = pq.read_table(SHARED_DATA / "binance_BTC-USDT_1d.parquet")
    pq.write_table(pa.concat_tables([table.slice(5, 5), table.slice(0, 5)]), tmp_path / "shuffled.parquet")
    with pytest.raises(ValueError, match="strictly increasing"):
        Feed.from_parquet(tmp_path / "shuffled.parquet", "BTC/USDT", "1d")
