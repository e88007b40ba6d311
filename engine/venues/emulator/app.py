"""The emulator's HTTP face, on aiohttp.web: a route per endpoint (the public market data of `/api/v3` and
`/fapi/v1`, the signed trading endpoints), a middleware that logs every request and serves the injected
faults, and Binance's JSON body for anything refused or unknown."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol
from urllib.parse import parse_qsl

from aiohttp import web

from engine.venues import binance_wire as wire
from engine.venues.binance_wire import BinanceError
from engine.venues.clock import Clock
from engine.venues.emulator import market_data, trading
from engine.venues.emulator.auth import ApiKey, authenticate
from engine.venues.emulator.book import Book
from engine.venues.emulator.config import TradingConfig
from engine.venues.emulator.faults import INVISIBLE_S, FaultBook, serve_faulty
from engine.venues.emulator.feed import Feed

PUBLIC_ENDPOINTS = ("ping", "time", "exchangeInfo", "klines")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Exchange(Protocol):
    """What the app serves from (the running `BinanceEmulator`)."""

    clock: Clock
    book: Book
    keys: Mapping[str, ApiKey]
    trading: TradingConfig
    faults: FaultBook
    requests: deque[str]
    feeds: dict[str, Feed]
    perpetual_feeds: dict[str, Feed]

    @property
    def speed(self) -> float: ...


def make_app(exchange: Exchange) -> web.Application:
    app = web.Application(middlewares=[_log_and_faults(exchange)])
    for family, feeds, futures in (("/api/v3", exchange.feeds, False), ("/fapi/v1", exchange.perpetual_feeds, True)):
        for endpoint in PUBLIC_ENDPOINTS:
            app.router.add_route("*", f"{family}/{endpoint}", _public(exchange, endpoint, feeds, futures))
    for (method, path), endpoint in trading.ROUTES.items():
        app.router.add_route(method, path, _signed(exchange, endpoint))
    app.router.add_route("*", "/{tail:.*}", _unknown)  # last: any other path or method
    return app


def answer(status: int, body: object) -> web.Response:
    if isinstance(body, market_data.KlinesBody):
        return web.Response(text=body.text, status=status, content_type="application/json")
    return web.json_response(body, status=status)


def _log_and_faults(exchange: Exchange) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        exchange.requests.append(request.rel_url.raw_path_qs)
        fault = exchange.faults.take(request.method, request.path)
        if fault is None:
            return await handler(request)
        return await serve_faulty(fault, request, handler, exchange.clock.now_ms())

    return middleware


def _public(exchange: Exchange, endpoint: str, feeds: dict[str, Feed], futures: bool) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        query = {k: v for k, v in request.query.items()}  # a repeated parameter: the last one counts
        return answer(*market_data.respond(endpoint, query, feeds, exchange.clock.now_ms(), futures=futures))

    return handle


def _signed(exchange: Exchange, endpoint: Callable[[trading.Call], trading.Answer]) -> Handler:
    """A signed endpoint: parameters from the query and the body, the key, signature and timestamp checked,
    then the endpoint; a refusal anywhere is answered as Binance answers it."""

    async def handle(request: web.Request) -> web.StreamResponse:
        raw_query = request.rel_url.raw_query_string
        raw_body = await request.text()  # read once and kept: a duplicated delivery reads it again
        params = dict(parse_qsl(raw_query, keep_blank_values=True)) | dict(parse_qsl(raw_body, keep_blank_values=True))
        now = exchange.clock.now_ms()
        try:
            key = authenticate(exchange.keys, request.headers.get("X-MBX-APIKEY"), (raw_query, raw_body), params, now,
                               exchange.speed)
            call = trading.Call(params, key, now, exchange.book, exchange.trading, request.get(INVISIBLE_S, 0.0))
            return answer(*endpoint(call))
        except BinanceError as refusal:
            return answer(refusal.status, refusal.body)

    return handle


async def _unknown(request: web.Request) -> web.StreamResponse:
    return answer(*wire.error_body("not_found"))
