"""Signed requests as Binance checks them: the API key in `X-MBX-APIKEY`, an HMAC-SHA256 signature of the
query string followed by the body, and a `timestamp` inside `recvWindow` of the exchange's clock.

The clock is the emulator's, so a client signs with the same clock (`make_exchange(..., clock=...)`). Under
an accelerated clock the recvWindow is a wall-time allowance: it guards the network's latency, which does
not speed up with the market.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.venues.binance_wire import BinanceError

DEFAULT_RECV_WINDOW_MS, MAX_RECV_WINDOW_MS, AHEAD_MS = 5000, 60_000, 1000
_SIGNATURE = re.compile(r"(^|&)signature=[^&]*")
_KEY_FORMAT = re.compile(r"[!-~]{1,256}")  # printable, no spaces: what a header value can carry


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key of the emulated account and what it may do (`GET /sapi/v1/account/apiRestrictions`).
    The default is the key a trading bot should have: no withdrawals, restricted to known IPs."""

    key: str
    secret: str = field(repr=False)  # never printed, logged or answered
    can_withdraw: bool = False
    ip_restricted: bool = True


def authenticate(keys: Mapping[str, ApiKey], header: str | None, raw: tuple[str, str], params: Mapping[str, str],
                 now_ms: int, speed: float = 1.0) -> ApiKey:
    """The key a signed request was made with, or the refusal Binance would answer. `raw` is the query string
    and the body exactly as sent; `speed` is how much faster than wall time the exchange's clock runs."""
    if not header or not _KEY_FORMAT.fullmatch(header):
        raise BinanceError("bad_key_format")
    key = keys.get(header)
    if key is None:
        raise BinanceError("bad_api_key")
    _check_signature(key, raw, params.get("signature", ""))
    _check_timestamp(params, now_ms, speed)
    return key


def _check_signature(key: ApiKey, raw: tuple[str, str], signature: str) -> None:
    """HMAC-SHA256 of "totalParams" (query string then body, signature removed) with the key's secret."""
    total = "".join(_SIGNATURE.sub("", part).lstrip("&") for part in raw)
    expected = hmac.new(key.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError("bad_signature")


def _check_timestamp(params: Mapping[str, str], now_ms: int, speed: float) -> None:
    """Binance's rule: `timestamp < serverTime + 1s` and `serverTime - timestamp <= recvWindow`."""
    try:
        stamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise BinanceError("missing_parameter", name="timestamp") from None
    try:
        window = float(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
    except ValueError:
        raise BinanceError("missing_parameter", name="recvWindow") from None
    if not 0 < window <= MAX_RECV_WINDOW_MS:
        raise BinanceError("bad_recv_window")
    if stamp >= now_ms + AHEAD_MS * speed:
        raise BinanceError("early_timestamp")
    if now_ms - stamp > window * speed:
        raise BinanceError("stale_timestamp")
