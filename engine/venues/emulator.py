"""A loopback Binance: the spot REST endpoints ccxt's `binance` class calls, served from our candles.

The real ccxt client is pointed at it (`engine.venues.ccxt_client.make_exchange(..., api_url=...)`), so
tests, the demo and `gauntlet emulator serve` exercise the real exchange code path. Two controls make it
a test instrument rather than a file server:

- a clock: the emulator's "now" decides which candles exist and which one is still in progress (served
  partially, as Binance does);
- faults: HTTP 429 with Retry-After, 418 bans, 503s, timeouts, truncated bodies, dropped connections and
  bad credentials, each injected for the next N matching requests or for good.

Spot markets are served on `/api/v3` and USDⓈ-M perpetuals (a feed named `BTC/USDT:USDT`) on `/fapi/v1`.
Only 127.0.0.1 is ever bound. Trading endpoints arrive with the engine's venues.
"""

from __future__ import annotations

import json
from collections import deque
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.venues.clock import Clock, HistoricalClock
from engine.ohlcv.schema import VALUE_COLUMNS, ts_ms_of
from engine.ohlcv.timeframe import timeframe_ms
from engine.venues import binance_wire as wire

LOOPBACK = "127.0.0.1"
FAULT_KINDS = ("rate_limit", "ip_ban", "unavailable", "timeout", "truncate", "reset", "bad_api_key")


@dataclass(frozen=True, slots=True)
class Feed:
    """The candles served for one symbol at one interval."""

    symbol: str
    timeframe: str
    ts_ms: np.ndarray
    values: np.ndarray  # (n, 5): open, high, low, close, volume
    rules: wire.MarketRules = field(default_factory=wire.MarketRules)

    @classmethod
    def from_frame(cls, symbol: str, timeframe: str, frame: pd.DataFrame, rules: wire.MarketRules | None = None) -> Feed:
        values = frame[list(VALUE_COLUMNS)].to_numpy(dtype=np.float64)
        return cls(symbol, timeframe, ts_ms_of(frame).copy(), values, rules or wire.MarketRules())

    @classmethod
    def from_parquet(cls, path: Path, symbol: str, timeframe: str) -> Feed:
        """A candle file in the `shared/data` format (int64 ms `timestamp`) or in the cache schema."""
        table = pq.read_table(path)
        missing = [c for c in ("timestamp", *VALUE_COLUMNS) if c not in table.column_names]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        stamp = table.column("timestamp")
        if pa.types.is_timestamp(stamp.type):
            stamp = stamp.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        ts = stamp.to_numpy().astype(np.int64)
        if len(ts) and np.any(np.diff(ts) <= 0):
            raise ValueError(f"{path}: timestamps must be strictly increasing")
        values = np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in VALUE_COLUMNS])
        return cls(symbol, timeframe, ts, values)

    @property
    def end_ms(self) -> int:
        """When the last candle closes."""
        return int(self.ts_ms[-1]) + timeframe_ms(self.timeframe) if len(self.ts_ms) else 0


@dataclass(slots=True)
class Fault:
    """Misbehaviour for the next `times` requests whose path starts with `path` (`times=None`: forever),
    after letting `skip` of them through untouched."""

    kind: str
    times: int | None = 1
    path: str = "/api/v3/"
    retry_after_s: int = 0
    delay_s: float = 1.0
    skip: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; choose from {', '.join(FAULT_KINDS)}")


class BinanceEmulator:
    """Start with `with BinanceEmulator([feed]) as emu:`; `emu.base_url` is what ccxt is pointed at."""

    def __init__(self, feeds: Iterable[Feed], *, now_ms: int | None = None, port: int = 0,
                 clock: Clock | None = None) -> None:
        feeds = list(feeds)
        if not feeds:
            raise ValueError("the emulator needs at least one feed of candles")
        unknown = [f.symbol for f in feeds if ":" in f.symbol and not wire.is_perpetual(f.symbol)]
        if unknown:
            raise ValueError(f"the emulator serves spot markets and USDⓈ-M perpetuals (BTC/USDT:USDT), not {unknown[0]}")
        self.feeds = {wire.market_id(f.symbol): f for f in feeds if ":" not in f.symbol}  # /api/v3
        self.perpetual_feeds = {wire.market_id(f.symbol): f for f in feeds if ":" in f.symbol}  # /fapi/v1
        # the exchange's now: a manual clock (tests move it) unless one is given (an accelerated rehearsal)
        self.clock = clock or HistoricalClock(now_ms if now_ms is not None else max(f.end_ms for f in feeds))
        self.requests: deque[str] = deque(maxlen=100_000)  # the recent request log, bounded for long serves
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # clients that time out hang up on us
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> BinanceEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="binance-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> BinanceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def count(self, path: str) -> int:
        """How many requests reached `path` (e.g. "/api/v3/klines")."""
        return sum(1 for r in self.requests if r.split("?", 1)[0] == path)

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # -- endpoints ------------------------------------------------------------------------------
    def respond(self, path: str, query: dict[str, str]) -> tuple[int, object]:
        family, _, endpoint = path.rpartition("/")
        feeds = {"/api/v3": self.feeds, "/fapi/v1": self.perpetual_feeds}.get(family)
        routes = {"ping": lambda q: (200, {}),
                  "time": lambda q: (200, {"serverTime": self.clock.now_ms()}),
                  "exchangeInfo": lambda q: self._exchange_info(q, feeds, futures=family == "/fapi/v1"),
                  "klines": lambda q: self._klines(q, feeds)}
        route = routes.get(endpoint) if feeds is not None else None
        return route(query) if route else wire.error_body("not_found")

    def _exchange_info(self, query: dict[str, str], feeds: dict[str, Feed], *, futures: bool) -> tuple[int, object]:
        wanted = list(feeds)
        if "symbol" in query:
            wanted = [query["symbol"]]
        elif "symbols" in query:
            wanted = json.loads(query["symbols"])
        if any(w not in feeds for w in wanted):
            return wire.error_body("bad_symbol")
        info = wire.perpetual_info if futures else wire.symbol_info
        infos = [info(feeds[w].symbol, feeds[w].rules) for w in wanted]
        return 200, wire.exchange_info(self.clock.now_ms(), infos, futures=futures)

    def _klines(self, query: dict[str, str], feeds: dict[str, Feed]) -> tuple[int, object]:
        feed = feeds.get(query.get("symbol", ""))
        if feed is None:
            return wire.error_body("bad_symbol")
        if query.get("interval") != feed.timeframe:
            status, body = wire.error_body("bad_interval")
            return status, {**body, "msg": f"{body['msg']} This emulator serves {feed.symbol} at {feed.timeframe}."}
        try:
            limit = int(query.get("limit", wire.DEFAULT_KLINES_LIMIT))
            start, end = (int(query[k]) if k in query else None for k in ("startTime", "endTime"))
        except ValueError:
            return wire.error_body("bad_parameter")
        if not 1 <= limit <= wire.MAX_KLINES_LIMIT:
            return wire.error_body("bad_parameter")
        return 200, _KlinesBody(self._kline_rows(feed, start, end, limit))

    def _kline_rows(self, feed: Feed, start: int | None, end: int | None, limit: int) -> str:
        now, step = self.clock.now_ms(), timeframe_ms(feed.timeframe)
        hi = int(np.searchsorted(feed.ts_ms, now, side="right"))  # candles that have opened
        if end is not None:
            hi = min(hi, int(np.searchsorted(feed.ts_ms, end, side="right")))
        if start is not None:
            lo = int(np.searchsorted(feed.ts_ms, start, side="left"))
            hi = max(lo, min(hi, lo + limit))
        else:
            lo = max(0, hi - limit)
        ts, values = feed.ts_ms[lo:hi], feed.values[lo:hi]
        if len(ts) and ts[-1] + step > now:
            values = values.copy()
            values[-1] = wire.partial_candle(values[-1], (now - ts[-1]) / step)
        return wire.klines_json(ts, values, feed.timeframe)


@dataclass(frozen=True, slots=True)
class _KlinesBody:
    """Pre-encoded JSON, so the hot endpoint skips json.dumps."""

    text: str


def _handler_for(emulator: BinanceEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as ccxt's session expects

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            emulator.requests.append(self.path)
            fault = emulator.take_fault(parts.path)
            if fault is not None and fault.kind == "timeout":
                time.sleep(fault.delay_s)  # the client gives up first; the answer goes nowhere
            elif fault is not None and fault.kind == "reset":
                self.close_connection = True
                return
            elif fault is not None and fault.kind != "truncate":
                self._send_error(fault)
                return
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            status, body = emulator.respond(parts.path, query)
            data = body.text.encode() if isinstance(body, _KlinesBody) else json.dumps(body).encode()
            if fault is not None and fault.kind == "truncate":
                self._send(status, data[: len(data) // 2], length=len(data))  # announce all, send half, hang up
                self.close_connection = True
                return
            self._send(status, data)

        do_POST = do_DELETE = do_GET

        def _send_error(self, fault: Fault) -> None:
            until = emulator.clock.now_ms() + fault.retry_after_s * 1000
            status, body = wire.error_body(fault.kind, until=until) if fault.kind == "ip_ban" else wire.error_body(fault.kind)
            self._send(status, json.dumps(body).encode(), headers={"Retry-After": str(fault.retry_after_s)})

        def _send(self, status: int, data: bytes, *, length: int | None = None, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data) if length is None else length))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
