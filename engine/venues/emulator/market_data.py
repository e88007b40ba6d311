"""The public endpoints: ping, time, exchangeInfo and klines, for spot (`/api/v3`) and USDⓈ-M perpetuals
(`/fapi/v1`). Functions of the feeds, the query and the emulator's "now", answering (status, body)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from engine.venues import binance_wire as wire
from engine.venues.emulator.feed import Feed


@dataclass(frozen=True, slots=True)
class KlinesBody:
    """Pre-encoded JSON, so the hot endpoint skips json.dumps."""

    text: str


def respond(endpoint: str, query: dict[str, str], feeds: dict[str, Feed], now_ms: int, *,
            futures: bool) -> tuple[int, object]:
    """One public endpoint of one API family (`feeds` are the markets that family serves)."""
    if endpoint == "ping":
        return 200, {}
    if endpoint == "time":
        return 200, {"serverTime": now_ms}
    if endpoint == "exchangeInfo":
        return exchange_info(query, feeds, now_ms, futures=futures)
    if endpoint == "klines":
        return klines(query, feeds, now_ms)
    return wire.error_body("not_found")


def exchange_info(query: dict[str, str], feeds: dict[str, Feed], now_ms: int, *, futures: bool) -> tuple[int, object]:
    wanted = list(feeds)
    if "symbol" in query:
        wanted = [query["symbol"]]
    elif "symbols" in query:
        wanted = json.loads(query["symbols"])
    if any(w not in feeds for w in wanted):
        return wire.error_body("bad_symbol")
    info = wire.perpetual_info if futures else wire.symbol_info
    infos = [info(feeds[w].symbol, feeds[w].rules) for w in wanted]
    return 200, wire.exchange_info(now_ms, infos, futures=futures)


def klines(query: dict[str, str], feeds: dict[str, Feed], now_ms: int) -> tuple[int, object]:
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
    return 200, KlinesBody(_kline_rows(feed, now_ms, (start, end), limit))


def _kline_rows(feed: Feed, now: int, window: tuple[int | None, int | None], limit: int) -> str:
    """The rows Binance would send: candles that have opened by `now`, the one in progress shown part way."""
    start, end = window
    step = feed.step_ms
    hi = feed.opened(now)
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
