"""The trading emulator the venue tests share: a hand-made 1m BTC/USDT market whose fills can be checked by
hand, an account with a key, and ccxt clients (sync and async) that sign with the emulator's clock."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest

from engine.ohlcv import to_ms
from engine.ohlcv.schema import frame_from_arrays
from engine.venues.ccxt_client import make_exchange
from engine.venues.clock import Clock
from engine.venues.emulator import ApiKey, BinanceEmulator, Feed, TradingConfig

KEY, SECRET = "emulator-test-key", "emulator-test-secret"
START = to_ms("2024-01-01")
MINUTE = 60_000
NOW = START + 5 * MINUTE + 10_000  # ten seconds into the 00:05 candle


def minute_feed(n: int = 240, changes: dict[int, tuple[float, float, float, float, float]] | None = None) -> Feed:
    """`n` one-minute candles from 2024-01-01: open 100, high 101, low 99, close 100, volume 10, except the
    candles in `changes` (index -> open, high, low, close, volume)."""
    values = np.tile([100.0, 101.0, 99.0, 100.0, 10.0], (n, 1))
    for i, row in (changes or {}).items():
        values[i] = row
    ts = START + MINUTE * np.arange(n, dtype=np.int64)
    frame = frame_from_arrays(ts, dict(zip(("open", "high", "low", "close", "volume"), values.T, strict=True)))
    return Feed.from_frame("BTC/USDT", "1m", frame)


def account(**overrides: object) -> TradingConfig:
    """The test account: USDT 10000 and BTC 1, Binance's 0.1 % commission, the engine's fill model."""
    values: dict[str, object] = {"keys": (ApiKey(KEY, SECRET),), "balances": {"USDT": Decimal(10000), "BTC": Decimal(1)}}
    return TradingConfig(**(values | overrides))  # type: ignore[arg-type]


def client(emulator: BinanceEmulator, *, async_: bool = False, clock: Clock | None = None, key: str = KEY,
           secret: str = SECRET, timeout_ms: int = 5_000):
    """The real ccxt binance client pointed at the emulator, signing with its clock unless told otherwise."""
    return make_exchange("binance", api_url=emulator.base_url, rate_limit=False, timeout_ms=timeout_ms, async_=async_,
                         credentials={"apiKey": key, "secret": secret}, clock=clock or emulator.clock)


def signed(emulator: BinanceEmulator, method: str, path: str, params: dict[str, object], *, key: str | None = KEY,
           secret: str = SECRET) -> tuple[int, object]:
    """A signed request made by hand (HMAC-SHA256 of the query), for exact status codes and bodies."""
    query = urllib.parse.urlencode({**params, "timestamp": emulator.clock.now_ms()} if "timestamp" not in params
                                   else params)
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{emulator.base_url}{path}?{query}&signature={signature}", method=method,
                                     headers={"X-MBX-APIKEY": key} if key is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.fixture
def exchange() -> Iterator[BinanceEmulator]:
    """The emulator on the hand-made market, its manual clock ten seconds into the 00:05 candle."""
    with BinanceEmulator([minute_feed()], now_ms=NOW, trading=account()) as emulator:
        yield emulator


@pytest.fixture
def ex(exchange: BinanceEmulator):
    """A sync ccxt client of the test account."""
    return client(exchange)
