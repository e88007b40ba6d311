"""What the ccxt venue tests share: the emulator on the hand-made market with a clock that runs at wall
speed from ten seconds into the 00:05 candle (and jumps ahead when a test says), a real journal, a venue on
the real async ccxt client, and a proof policy quick enough for tests (recvWindow 1 s, margin 0.5 s)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from engine.core.commands import SubmitOrder
from engine.core.ids import client_order_id, scope_tag
from engine.core.orders import Order, OrderType
from engine.live.journal import Journal
from engine.venues.calls import RetryPolicy
from engine.venues.ccxt_venue import CcxtVenue, VenueConfig
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator
from engine.venues.submission import ProofPolicy
from tests.engine.venues.conftest import MINUTE, NOW, START, account, client, minute_feed

DEPLOYMENT = "venue-test"
SYMBOL = "BTC/USDT"
FAST = ProofPolicy(recv_window_ms=1_000, margin_ms=500, confirmations=3, spacing_s=0.15, patience_s=15.0)
QUICK = RetryPolicy(tries=5, base_s=0.05, max_s=0.5)


class JumpingTime:
    """Wall time (monotonic) plus the jumps a test makes: the emulator's clock runs as the world's does, and a
    test can close a candle without waiting a minute for it."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset_s

    def jump(self, seconds: float) -> None:
        self.offset_s += seconds


@contextmanager
def trading_emulator(**trading: Any) -> Iterator[BinanceEmulator]:
    """The emulator on `minute_feed()`, its clock at NOW and running; `emu.clock.clock.jump(s)` skips ahead."""
    clock = AcceleratedClock(NOW, 1.0, clock=JumpingTime())
    with BinanceEmulator([minute_feed()], clock=clock, trading=account(**trading)) as emulator:
        yield emulator


def jump(emulator: BinanceEmulator, seconds: float) -> None:
    emulator.clock.clock.jump(seconds)  # type: ignore[attr-defined]


@asynccontextmanager
async def venue_on(emulator: BinanceEmulator, journal: Journal, *, proof: ProofPolicy = FAST, live: bool = False,
                   timeout_ms: int = 2_000, **keys: str) -> AsyncIterator[CcxtVenue]:
    """A started venue of DEPLOYMENT on the real async ccxt client, journaling into `journal`."""
    exchange = client(emulator, async_=True, timeout_ms=timeout_ms, **keys)
    venue = CcxtVenue(exchange, VenueConfig(DEPLOYMENT, (SYMBOL,), proof, QUICK, live), journal)
    try:
        await venue.start()
        yield venue
    finally:
        await venue.close()


def intent(i: int, qty: float = 0.1, *, side: int = 1, role: str = "entry", **fields: Any) -> Order:
    """Order `i` of DEPLOYMENT (decided at the close of minute i), as the loop would make it."""
    return Order(client_order_id(DEPLOYMENT, START + i * MINUTE, role), SYMBOL, side, qty, **fields)


def limit(i: int, qty: float, px: float, *, side: int = 1) -> Order:
    return intent(i, qty, side=side, type=OrderType.LIMIT, limit_px=px)


def command(order: Order, last_px: float = 100.0) -> SubmitOrder:
    return SubmitOrder(NOW, order, last_px)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def exchange_orders(emulator: BinanceEmulator, prefix: str = "") -> list:
    """The emulator's orders of DEPLOYMENT (client ids in its scope), optionally those starting `prefix`."""
    mine = f"g{scope_tag(DEPLOYMENT)}-"
    return [o for o in emulator.book.orders.values() if o.client_id.startswith(mine) and o.client_id.startswith(prefix)]


def family(client_id: str) -> str:
    """What every attempt of one intent's client id starts with (all but the attempt number)."""
    return client_id[: client_id.rindex("-") + 2]
