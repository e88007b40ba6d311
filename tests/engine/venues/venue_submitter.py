"""The process the SIGKILL test kills: a runner's submitting half, through the ccxt venue with a real journal.

`python -m tests.engine.venues.venue_submitter BASE_URL JOURNAL ORIGIN_S` signs with the emulator's clock
(an `AcceleratedClock` at wall speed from NOW, whose origin the parent passes: both processes read one time),
resumes after the intents already journaled, and submits order after order, journaling each answer as a
runner would. It prints where it is, so the parent can kill it there: `intent CID` once the intent is on
disk (before the request), `noted CID request` just before the request leaves, `noted CID order` once the
answer is in, `answered CID` when `submit` returns, `journaled CID` once its events are.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from typing import Any

from engine.core.commands import SubmitOrder
from engine.core.ids import client_order_id
from engine.core.orders import Order, OrderType
from engine.live.journal import Journal
from engine.venues.calls import RetryPolicy
from engine.venues.ccxt_client import make_exchange
from engine.venues.ccxt_venue import CcxtVenue, VenueConfig
from engine.venues.clock import AcceleratedClock
from engine.venues.submission import ProofPolicy, intent_of

DEPLOYMENT, SYMBOL = "killed", "BTC/USDT"
KEY, SECRET = "emulator-test-key", "emulator-test-secret"  # the test account's (tests/engine/venues/conftest.py)
START, MINUTE = 1_704_067_200_000, 60_000  # 2024-01-01, as conftest.START
NOW = START + 5 * MINUTE + 10_000
PROOF = ProofPolicy(recv_window_ms=1_000, margin_ms=500, confirmations=3, spacing_s=0.15, patience_s=15.0)
RETRY = RetryPolicy(tries=5, base_s=0.05, max_s=0.5)


def order(i: int) -> Order:
    """Order i: a market buy of 0.05 BTC, a limit buy of 0.1 resting at 98 (the market never trades below 99)
    or a market sell of 0.05, in turn."""
    cid = client_order_id(DEPLOYMENT, START + i * MINUTE, "entry")
    if i % 3 == 1:
        return Order(cid, SYMBOL, 1, 0.1, OrderType.LIMIT, limit_px=98.0)
    return Order(cid, SYMBOL, 1 if i % 3 == 0 else -1, 0.05)


class Announced:
    """The journal, saying on stdout what it has just made durable."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def record_intent(self, deployment: str, order: Order, ts_ms: int) -> None:
        self.journal.record_intent(deployment, order, ts_ms)
        print("intent", order.client_id, flush=True)

    def note_venue_state(self, client_id: str, state: Mapping[str, Any], ts_ms: int) -> None:
        self.journal.note_venue_state(client_id, state, ts_ms)
        print("noted", client_id, "order" if "order" in state else "request", flush=True)


def clock(origin_s: float) -> AcceleratedClock:
    return AcceleratedClock(NOW, 1.0, clock=time.time, origin_s=origin_s)


def venue(base_url: str, origin_s: float, intents: Any) -> CcxtVenue:
    exchange = make_exchange("binance", api_url=base_url, rate_limit=False, timeout_ms=400, async_=True,
                             credentials={"apiKey": KEY, "secret": SECRET}, clock=clock(origin_s))
    return CcxtVenue(exchange, VenueConfig(DEPLOYMENT, (SYMBOL,), PROOF, RETRY), intents)


async def submit_forever(base_url: str, path: str, origin_s: float) -> None:
    with Journal.open(path) as journal:
        start = len({intent_of(row.client_id) for row in journal.orders(DEPLOYMENT)})  # orders 0, 1, ... in turn
        trader = venue(base_url, origin_s, Announced(journal))
        try:
            await trader.start()
            print("ready", start, flush=True)
            for i in range(start, start + 1000):
                events = await trader.submit(SubmitOrder(NOW, order(i), 100.0))
                print("answered", order(i).client_id, flush=True)
                journal.append(DEPLOYMENT, events)
                print("journaled", order(i).client_id, flush=True)
        finally:
            await trader.close()


if __name__ == "__main__":
    asyncio.run(submit_forever(sys.argv[1], sys.argv[2], float(sys.argv[3])))
