"""Binance REST bodies, as the real exchange writes them: klines rows, exchangeInfo, error payloads and the
refusals of its trading endpoints.

Spot (`/api/v3`) and USDⓈ-M perpetuals (`/fapi/v1`, ccxt's `BTC/USDT:USDT`) share the klines format;
their exchangeInfo entries differ (a perpetual names its contract type and margin asset).

Pure functions from our records to JSON-ready values, kept apart from the HTTP server so the shapes can
be compared field by field with the real responses in `shared/data/fixtures/binance_spot/`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.core.matching import INSUFFICIENT_BALANCE
from engine.ohlcv.timeframe import timeframe_ms

DEFAULT_KLINES_LIMIT, MAX_KLINES_LIMIT = 500, 1000

ERRORS = {
    "bad_symbol": (400, -1121, "Invalid symbol."),
    "bad_interval": (400, -1120, "Invalid interval."),
    "bad_parameter": (400, -1130, "Invalid data sent for a parameter."),
    "rate_limit": (429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
                   "Please use the websocket for live updates to avoid polling the API."),
    "ip_ban": (418, -1003, "Way too much request weight used; IP banned until {until}. "
               "Please use WebSocket Streams for live updates to avoid bans."),
    "unavailable": (503, -1001, "Internal error; unable to process your request. Please try again."),
    "bad_api_key": (401, -2015, "Invalid API-key, IP, or permissions for action."),
    "not_found": (404, -1, "Unknown endpoint."),
    # signed requests
    "bad_key_format": (401, -2014, "API-key format invalid."),
    "bad_signature": (400, -1022, "Signature for this request is not valid."),
    "stale_timestamp": (400, -1021, "Timestamp for this request is outside of the recvWindow."),
    "early_timestamp": (400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."),
    "bad_recv_window": (400, -1131, "recvWindow must be less than 60000."),
    # order parameters
    "missing_parameter": (400, -1102, "Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    "missing_either": (400, -1102, "Param '{first}' or '{second}' must be sent, but both were empty/null!"),
    "illegal_parameter": (400, -1100, "Illegal characters found in parameter '{name}'; legal range is '{legal}'."),
    "unsupported_combination": (400, -1014, "Unsupported order combination."),
    "bad_tif": (400, -1115, "Invalid timeInForce."),
    "bad_order_type": (400, -1116, "Invalid orderType."),
    "bad_side": (400, -1117, "Invalid side."),
    # refusals by the filters and the matching engine
    "filter": (400, -1013, "Filter failure: {name}"),
    "market_closed": (400, -1013, "Market is closed."),
    "insufficient_balance": (400, -2010, INSUFFICIENT_BALANCE),
    "duplicate_order": (400, -2010, "Duplicate order sent."),
    "would_trigger": (400, -2010, "Order would trigger immediately."),
    "would_take": (400, -2010, "Order would immediately match and take."),
    "no_such_order": (400, -2013, "Order does not exist."),
    "unknown_order": (400, -2011, "Unknown order sent."),
    # the exchange does not know whether it acted (HTTP 5XX: "the execution status is UNKNOWN")
    "status_unknown_1006": (500, -1006, "An unexpected response was received from the message bus. "
                            "Execution status unknown."),
    "status_unknown_1007": (500, -1007, "Timeout waiting for response from backend server. "
                            "Send status unknown; execution status unknown."),
}


def error_body(name: str, /, **fmt: object) -> tuple[int, dict]:
    status, code, msg = ERRORS[name]
    return status, {"code": code, "msg": msg.format(**fmt) if fmt else msg}


class BinanceError(Exception):
    """A refusal in Binance's own words, raised where the exchange would refuse and answered as its JSON
    body, so the code that decides never builds HTTP responses."""

    def __init__(self, name: str, /, **fmt: object) -> None:
        self.status, self.body = error_body(name, **fmt)
        super().__init__(self.body["msg"])


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """The exchange filters of one spot market as Binance serves them (strings, its `filters` of exchangeInfo);
    ccxt turns them into precision and limits, from which `engine.core.MarketRules` is built."""

    tick_size: str = "0.01000000"
    step_size: str = "0.00001000"
    min_qty: str = "0.00001000"
    max_qty: str = "9000.00000000"
    min_notional: str = "5.00000000"
    min_price: str = "0.01000000"
    max_price: str = "1000000.00000000"
    max_notional: str = "9000000.00000000"


PERPETUAL_DELIVERY_MS = 4_133_404_800_000  # 2100-12-25: what Binance lists as a perpetual's delivery date


def market_id(symbol: str) -> str:
    """`BTC/USDT` -> `BTCUSDT`; the perpetual `BTC/USDT:USDT` has the same id on its own API."""
    return symbol.split(":", 1)[0].replace("/", "")


def is_perpetual(symbol: str) -> bool:
    """A USDⓈ-M perpetual in ccxt's unified form: `BASE/QUOTE:QUOTE` (settled in the quote asset)."""
    pair, _, settle = symbol.partition(":")
    return bool(settle) and settle == pair.split("/")[1]


def perpetual_info(symbol: str, rules: SymbolFilters) -> dict:
    """A `/fapi/v1/exchangeInfo` symbol entry for a USDⓈ-M perpetual."""
    pair = symbol.split(":", 1)[0]
    base, quote = pair.split("/")
    return {
        "symbol": market_id(symbol), "pair": market_id(symbol), "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_MS, "onboardDate": 1_569_398_400_000, "status": "TRADING",
        "baseAsset": base, "quoteAsset": quote, "marginAsset": quote, "pricePrecision": 2, "quantityPrecision": 3,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": rules.tick_size, "maxPrice": "4529764", "tickSize": rules.tick_size},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def symbol_info(symbol: str, rules: SymbolFilters) -> dict:
    base, quote = symbol.split("/")
    return {
        "symbol": market_id(symbol), "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT",
                                                       "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": True,  # as for Binance's majors
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": rules.min_price, "maxPrice": rules.max_price,
             "tickSize": rules.tick_size},
            {"filterType": "LOT_SIZE", "minQty": rules.min_qty, "maxQty": rules.max_qty, "stepSize": rules.step_size},
            {"filterType": "NOTIONAL", "minNotional": rules.min_notional, "applyMinToMarket": True,
             "maxNotional": rules.max_notional, "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
    }


def exchange_info(server_time_ms: int, symbols: list[dict], *, futures: bool = False) -> dict:
    body = {
        "timezone": "UTC", "serverTime": server_time_ms,
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
        "exchangeFilters": [], "symbols": symbols,
    }
    if futures:
        quotes = sorted({s["marginAsset"] for s in symbols})
        body |= {"futuresType": "U_MARGINED", "assets": [{"asset": q, "marginAvailable": True} for q in quotes]}
    return body


def klines_json(ts_ms: np.ndarray, values: np.ndarray, interval: str) -> str:
    """Klines rows as Binance writes them (numbers as strings); floats use Python's shortest exact repr,
    so every value survives the text round trip bit for bit."""
    step = timeframe_ms(interval)
    rows = [
        f'[{t},"{o!r}","{h!r}","{lo!r}","{c!r}","{v!r}",{t + step - 1},"{v * c!r}",{max(1, int(v * 10))},'
        f'"{v / 2!r}","{v * c / 2!r}","0"]'
        for t, (o, h, lo, c, v) in zip(ts_ms.tolist(), values.tolist(), strict=True)
    ]
    return "[" + ",".join(rows) + "]"


def partial_candle(row: np.ndarray, fraction: float) -> np.ndarray:
    """The in-progress candle as the exchange shows it part way through: the path so far, scaled volume.

    Historical data holds only the finished candle, so the close is interpolated from its open; what
    matters is that it differs from the finished one, as a real in-progress candle does.
    """
    o, h, lo, c, v = row
    close = o + (c - o) * fraction
    return np.array([o, min(h, max(o, close)), max(lo, min(o, close)), close, v * fraction])
