"""The ccxt venue's round trip: a market order from `CcxtVenue.submit` through the real async ccxt client to
the loopback emulator and back to its fill event (intent journaled first, in a real SQLite journal), p50 and
p99 in ms, and orders per second sustained with ccxt's rate limiting off and on.

The emulator runs in its own process (`gauntlet emulator serve`), as an exchange would, its clock standing
mid-candle so every market order fills; the venue signs with the same instant.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from engine.core.commands import SubmitOrder
from engine.core.ids import client_order_id
from engine.core.orders import Order
from engine.live.journal import Journal
from engine.ohlcv.sample import synthetic_candles
from engine.ohlcv.schema import to_table
from engine.venues.ccxt_client import make_exchange
from engine.venues.ccxt_venue import CcxtVenue, VenueConfig
from engine.venues.clock import HistoricalClock
from emulator_process import serving  # this folder is the script's: sys.path[0]

KEY, SECRET = "bench-key", "bench-secret"
ORDERS = 200


async def round_trips(url: str, now_ms: int, last_px: float, journal: Journal, scope: str,
                      rate_limit: bool) -> list[float]:
    """Seconds from submit to the fill event, order by order."""
    exchange = make_exchange("binance", api_url=url, rate_limit=rate_limit, async_=True,
                             credentials={"apiKey": KEY, "secret": SECRET}, clock=HistoricalClock(now_ms))
    venue = CcxtVenue(exchange, VenueConfig(scope, ("BTC/USDT",)), journal)
    await venue.start()
    waits = []
    try:
        for i in range(ORDERS):
            order = Order(client_order_id(scope, 1_700_000_000_000 + i * 60_000, "entry"), "BTC/USDT", 1, 0.001)
            started = time.perf_counter()
            events = await venue.submit(SubmitOrder(now_ms, order, last_px))
            while not any(e.kind == "order_filled" for e in events):
                events = await venue.sync(order.client_id)
            waits.append(time.perf_counter() - started)
    finally:
        await venue.close()
    return waits


def main() -> None:
    frame = synthetic_candles("BTC/USDT", "1m", start="2023-01-01", days=2)
    now = frame.index[len(frame) // 2] + (frame.index[1] - frame.index[0]) / 2  # mid-candle
    last_px = float(frame["close"].iloc[len(frame) // 2 - 1])
    with tempfile.TemporaryDirectory() as tmp:
        candles = Path(tmp) / "candles.parquet"
        pq.write_table(to_table(frame), candles)
        flags = ("--now", now.isoformat(), "--balance", "USDT=100000000,BTC=0")
        with serving(candles, *flags, env={"GAUNTLET_EMULATOR_API_KEY": KEY, "GAUNTLET_EMULATOR_API_SECRET": SECRET}) as url, \
                Journal.open(Path(tmp) / "journal.sqlite") as journal:
            for label, limited in (("rate limiting off", False), ("rate limiting on", True)):
                started = time.perf_counter()
                waits = asyncio.run(round_trips(url, int(now.value // 10**6), last_px, journal, f"bench{int(limited)}",
                                                limited))
                wall = time.perf_counter() - started
                p50, p99 = statistics.median(waits), statistics.quantiles(waits, n=100)[98]
                print(f"market order submit -> fill event, {label}: p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, "
                      f"{ORDERS / sum(waits):.1f} orders/s sustained ({ORDERS} orders, {wall:.1f} s with start-up)")

if __name__ == "__main__":
    main()
