"""The one place that builds ccxt exchange clients, real or pointed at a loopback server.

Pointing a client elsewhere means rewriting every entry of `urls['api']` (a constructor `urls` dict is
deep-merged, which would leave some groups on the real host), keeping market loading to the spot and
USDⓈ-M exchangeInfo the emulator answers, and restoring Binance's spot error table, which ccxt selects by the real hostname.
A client trading against the emulator signs its requests with the emulator's clock (`clock=`): the exchange
checks `timestamp` against its own "now", which in a rehearsal is history, possibly accelerated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from engine.venues.ccxt_errors import redact
from engine.venues.clock import Clock

EMULATOR_OPTIONS = {
    "fetchMarkets": {"types": ["spot", "linear"]},  # what the emulator serves: /api/v3 and /fapi/v1
    "fetchCurrencies": False,
    "fetchMargins": False,
    "adjustForTimeDifference": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
}
_HOST = re.compile(r"^https?://[^/]+")


def make_exchange(
    exchange_id: str,
    *,
    api_url: str | None = None,
    rate_limit: bool = True,
    timeout_ms: int = 10_000,
    async_: bool = False,
    credentials: dict[str, str] | None = None,
    clock: Clock | None = None,
) -> Any:
    """A ccxt client; with `api_url` every REST group is sent to that base URL (the emulator's); with `clock`
    its signed requests carry that clock's time (ccxt's documented way: its own `nonce`)."""
    module = ccxt_async if async_ else ccxt
    cls = getattr(module, exchange_id, None)
    if cls is None or exchange_id not in ccxt.exchanges:
        raise ValueError(f"unknown exchange {exchange_id!r}: not a ccxt exchange id (e.g. binance, kraken, okx)")
    config: dict[str, Any] = {"enableRateLimit": rate_limit, "timeout": timeout_ms, **(credentials or {})}
    if api_url is not None:
        config["options"] = {key: (dict(value) if isinstance(value, dict) else value)
                             for key, value in EMULATOR_OPTIONS.items()}
    exchange = cls(config)
    if api_url is not None:
        _point_at(exchange, api_url.rstrip("/"))
    if clock is not None:
        exchange.nonce = clock.now_ms  # Binance's `timestamp` is the nonce
    if credentials:
        exchange.logger = _Redacted(exchange.logger, [v for v in credentials.values() if v])
    return exchange


class _Redacted(logging.LoggerAdapter):
    """ccxt logs every request at DEBUG with its signed URL and its headers (the API key in X-MBX-APIKEY):
    the same lines, with the credentials and signatures blanked."""

    def __init__(self, logger: logging.Logger, secrets: Iterable[str]) -> None:
        super().__init__(logger, {})
        self.secrets = tuple(secrets)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, "%s", redact(text, self.secrets), **kwargs)


def _point_at(exchange: Any, base_url: str) -> None:
    exchange.urls["api"] = {group: _HOST.sub(base_url, url) if isinstance(url, str) else url
                            for group, url in exchange.urls["api"].items()}
    spot = exchange.exceptions.get("spot") if isinstance(exchange.exceptions, dict) else None
    if spot:  # Binance keeps spot-only error codes apart and picks them by hostname
        for kind in ("exact", "broad"):
            exchange.exceptions[kind] = {**exchange.exceptions.get(kind, {}), **spot.get(kind, {})}
