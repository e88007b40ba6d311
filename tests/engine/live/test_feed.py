"""The candle feed: a candle counts as closed only once the exchange answers a newer one; a candle missed is
fetched, never skipped; an outage is a gap named with its size; a candle later than the threshold is stale,
said once, and fresh again when candles come on time. Against the emulator serving the real BTC/USDT 5m
candles around Binance's outage of 2020-12-25 02:00-02:55 (12 candles missing), through ccxt's async client."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from engine.live.feed import CandleFeed, CandleTracker, ExchangeClock, FeedConfig
from engine.ohlcv import SeriesKey, to_ms
from engine.venues.ccxt_client import make_exchange
from engine.venues.emulator import BinanceEmulator, Feed
from tests.conftest import shared_candles

FIVE = 300_000


def test_only_candles_with_a_newer_one_beside_them_are_closed():
    tracker = CandleTracker(FIVE, 1_000 * FIVE)
    rows = [[t * FIVE, 1, 2, 0.5, 1.5, 10] for t in (999, 1000, 1001, 1002)]  # 999: before the one expected
    arrival = tracker.take(rows, now_ms=1003 * FIVE + 10)
    assert [c.ts_ms for c in arrival.candles] == [1000 * FIVE, 1001 * FIVE]  # 1002 is the newest: in progress
    assert arrival.late_ms == (2 * FIVE + 10, FIVE + 10) and arrival.gaps == ()
    assert tracker.next_open_ms == 1002 * FIVE and tracker.due_ms == 1003 * FIVE
    assert tracker.take(rows, now_ms=1003 * FIVE).candles == ()  # nothing new: nothing twice
    after_outage = tracker.take([[1002 * FIVE, 1, 1, 1, 1, 1], [1006 * FIVE, 1, 1, 1, 1, 1], [1007 * FIVE, 1, 1, 1, 1, 1]],
                                now_ms=1008 * FIVE)
    assert [c.ts_ms for c in after_outage.candles] == [1002 * FIVE, 1006 * FIVE]
    assert after_outage.gaps == ((1003 * FIVE, 1006 * FIVE),)  # three open times the exchange has no candle for
    assert tracker.late_ms(1008 * FIVE) == 0 and tracker.late_ms(1008 * FIVE + 7) == 7


def test_the_exchange_clock_reads_server_time_at_its_speed():
    wall = iter([0.0, 0.0, 2.0, 2.5]).__next__
    clock = ExchangeClock(speed=600.0, wall=wall)
    clock.calibrate(1_000_000, round_trip_s=0.0)
    assert clock.now_ms() == 1_000_000 + 2.0 * 1000 * 600
    assert clock.now_ms() == 1_000_000 + 2.5 * 1000 * 600


def test_an_outage_is_a_gap_the_late_candle_is_stale_and_candles_on_time_are_fresh_again():
    feed = Feed.from_frame("BTC/USDT", "5m", shared_candles("binance_BTC-USDT_5m.parquet"))
    with BinanceEmulator([feed], now_ms=to_ms("2020-12-25 01:40:30")) as emulator:
        arrivals, logs = asyncio.run(_through_the_outage(emulator))
    first, second, late, after = arrivals
    assert [c.ts_ms for c in first.candles] == [to_ms("2020-12-25 01:30"), to_ms("2020-12-25 01:35")]
    assert [c.ts_ms for c in second.candles] == [to_ms("2020-12-25 01:40"), to_ms("2020-12-25 01:45"),
                                                  to_ms("2020-12-25 01:50")]  # missed while away: fetched
    assert second.candles[0].close == float(feed.values[feed.opened(to_ms("2020-12-25 01:40")) - 1][3])
    assert [c.ts_ms for c in late.candles] == [to_ms("2020-12-25 01:55"), to_ms("2020-12-25 03:00"),
                                               to_ms("2020-12-25 03:05")]
    assert late.gaps == ((to_ms("2020-12-25 02:00"), to_ms("2020-12-25 03:00")),)
    assert late.late_ms == (to_ms("2020-12-25 03:10") - to_ms("2020-12-25 02:00"), FIVE, 0)  # 70 min, 5 min, on time
    assert [c.ts_ms for c in after.candles] == [to_ms("2020-12-25 03:10")] and after.late_ms == (5_000,)
    kinds = [(entry["event"], entry.get("missing")) for entry in logs if entry["event"].startswith("feed.")]
    assert kinds == [("feed.stale", None), ("feed.gap", 12), ("feed.fresh", None)]
    assert logs[0]["expected_open_ms"] == to_ms("2020-12-25 01:55") and logs[0]["late_ms"] > FIVE


async def _through_the_outage(emulator: BinanceEmulator) -> tuple[list, list]:
    client = make_exchange("binance", api_url=emulator.base_url, rate_limit=False, async_=True)
    feed = CandleFeed(SeriesKey("binance", "BTC/USDT", "5m"), client, emulator.clock, to_ms("2020-12-25 01:30"),
                      FeedConfig(stale_after_bars=1.0, max_retry_wall_s=0.02, min_wall_s=0.001))
    stop, arrivals = asyncio.Event(), []
    try:
        with capture_logs() as logs:
            arrivals.append(await feed.next(stop))
            emulator.clock.set(to_ms("2020-12-25 01:55:10"))  # away for three candles
            arrivals.append(await feed.next(stop))
            emulator.clock.set(to_ms("2020-12-25 02:10:00"))  # the outage: 01:55 stays the newest candle
            waiting = asyncio.create_task(feed.next(stop))
            await asyncio.sleep(0.2)
            assert not waiting.done() and feed.stale  # late by more than a bar: said once, and still waiting
            emulator.clock.set(to_ms("2020-12-25 03:10:00"))  # the exchange is back
            arrivals.append(await waiting)
            emulator.clock.set(to_ms("2020-12-25 03:15:05"))
            arrivals.append(await feed.next(stop))
    finally:
        await client.close()
    return arrivals, logs
