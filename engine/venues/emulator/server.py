"""`BinanceEmulator`: the loopback Binance, started and stopped from synchronous code.

The aiohttp app runs on its own event loop in a daemon thread, on a socket bound to 127.0.0.1 when the
emulator is made (so `base_url` is known before it starts). The state it serves from (feeds, clock, book,
keys, faults, the request log) lives on this object: a test moves the clock, injects faults and reads the
book from its own thread while clients talk to the server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from collections.abc import Iterable

from aiohttp import web

from engine.venues import binance_wire as wire
from engine.venues.clock import AcceleratedClock, Clock, HistoricalClock
from engine.venues.emulator import state
from engine.venues.emulator.app import make_app
from engine.venues.emulator.book import Book, open_book
from engine.venues.emulator.config import TradingConfig
from engine.venues.emulator.faults import Fault, FaultBook
from engine.venues.emulator.feed import Feed
from engine.venues.emulator.fills import make_market

LOOPBACK = "127.0.0.1"
SHUTDOWN_S = 0.5  # how long stopping waits for requests in flight (a `timeout` fault sleeps in one)


class BinanceEmulator:
    """Start with `with BinanceEmulator([feed]) as emu:`; `emu.base_url` is what ccxt is pointed at.

    The clock is manual (`emu.clock.set/advance`) unless one is given (an `AcceleratedClock` for a rehearsal);
    `trading` gives the account its keys, balances, fees and state file."""

    def __init__(self, feeds: Iterable[Feed], *, now_ms: int | None = None, port: int = 0, clock: Clock | None = None,
                 trading: TradingConfig | None = None) -> None:
        feeds = list(feeds)
        if not feeds:
            raise ValueError("the emulator needs at least one feed of candles")
        unknown = [f.symbol for f in feeds if ":" in f.symbol and not wire.is_perpetual(f.symbol)]
        if unknown:
            raise ValueError(f"the emulator serves spot markets and USDⓈ-M perpetuals (BTC/USDT:USDT), not {unknown[0]}")
        self.feeds = {wire.market_id(f.symbol): f for f in feeds if ":" not in f.symbol}  # /api/v3
        self.perpetual_feeds = {wire.market_id(f.symbol): f for f in feeds if ":" in f.symbol}  # /fapi/v1
        self.clock = clock or HistoricalClock(now_ms if now_ms is not None else max(f.end_ms for f in feeds))
        self.trading = trading or TradingConfig()
        self.keys = {key.key: key for key in self.trading.keys}
        self.faults = FaultBook()
        self.requests: deque[str] = deque(maxlen=100_000)  # the recent request log, bounded for long serves
        self.book = self._open_book()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((LOOPBACK, port))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def _open_book(self) -> Book:
        """The account: from the state file if there is one, else fresh from the configured balances."""
        now = self.clock.now_ms()
        markets = {market_id: make_market(feed, self.trading, now) for market_id, feed in self.feeds.items()}
        book = open_book(markets, self.trading, [a for m in markets.values() for a in (m.base, m.quote)])
        path = self.trading.state_path
        if path is not None:
            saved = state.read(path)
            if saved is not None:
                state.restore(book, saved)
            book.on_change = lambda changed: state.write(path, changed)
        return book

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self._socket.getsockname()[1]}"

    @property
    def speed(self) -> float:
        """How much faster than wall time the exchange's clock runs (1 unless accelerated)."""
        return self.clock.speed if isinstance(self.clock, AcceleratedClock) else 1.0

    def start(self) -> BinanceEmulator:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="binance-emulator", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    async def _serve(self) -> None:
        self._runner = web.AppRunner(make_app(self), access_log=None, shutdown_timeout=SHUTDOWN_S)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket).start()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            self._socket.close()
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._socket.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> BinanceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, *faults: Fault) -> None:
        self.faults.add(*faults)

    def clear_faults(self) -> None:
        self.faults.clear()

    def count(self, path: str) -> int:
        """How many requests reached `path` (e.g. "/api/v3/klines")."""
        return sum(1 for r in list(self.requests) if r.split("?", 1)[0] == path)
