"""Live trading's venue: the ccxt venue (`engine.venues.ccxt_venue.CcxtVenue`) behind the protocol a session
drives, so one session drives paper and live alike.

The exchange holds the books (`holds_books` False): nothing of the venue goes into a session's snapshot, a
candle brings no settlement and teaches the venue nothing (`settle`, `learn`), and `process` asks the exchange
what became of every order it follows (`CcxtVenue.sync`). Two things differ from paper, and both are here:

- A resend. When an order is proven never placed, the ccxt venue closes its attempt and sends the intent
  again under the next attempt's id (`OrderCancelled`, then `OrderSubmitted`). The loop is told the other way
  round: the new attempt first, so it takes the old one's place (in the open orders, beside its one-cancels-
  other sibling, in the protection an entry waits for), then the old attempt's end, which no longer moves
  anything.
- A restart. Every journaled order that has not ended is followed again (`recover`): those the books hold are
  brought to the exchange's truth at once, each fill by its exchange trade id, so a later poll reports none
  twice; an intent the crashed process journaled with no answer is only followed, and the candle it belongs
  to, handled again, asks for it by client id (`adopt`): found, it is adopted; proven absent, it is sent again
  under its next attempt's id; never sent twice under one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable

from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.events import Event
from engine.core.ledger import Fill
from engine.core.matching import Candle
from engine.core.orders import Order
from engine.venues.ccxt_venue import CcxtVenue
from engine.venues.submission import BookedFill, JournaledOrder, Phase, intent_of

__all__ = ["LiveVenue", "resends_first"]


class LiveVenue:
    """A `CcxtVenue` as the venue of a session (see the module's docstring)."""

    holds_books = False

    def __init__(self, venue: CcxtVenue) -> None:
        self.venue = venue
        self.waiting: set[str] = set()  # followed since start-up, for the candle handled again to claim (`adopt`)

    async def submit(self, command: SubmitOrder) -> list[Event]:
        return resends_first(await self.venue.submit(command))

    async def cancel(self, command: CancelOrder) -> list[Event]:
        return resends_first(await self.venue.cancel(command))

    async def order(self, client_id: str) -> Order | None:
        return await self.venue.order(client_id)

    async def open_orders(self) -> list[Order]:
        return await self.venue.open_orders()

    async def trades_since(self, ts_ms: int) -> list[Fill]:
        """This deployment's fills since `ts_ms` as the ledger records them (the client id as the order's)."""
        return [fill.as_fill() for fill in await self.venue.trades_since(ts_ms)]

    async def balances(self) -> dict[str, float]:
        return await self.venue.balances()

    @property
    def has_open(self) -> bool:
        return bool(self._followed())

    def _followed(self) -> list[str]:
        """The client ids whose news the loop is waiting for: not ended, and known to it."""
        return [cid for cid, sub in self.venue.submissions.items() if not sub.closed and cid not in self.waiting]

    def settle(self, ts_ms: int) -> list[Event]:
        return []  # the exchange charges what it charges; its balances say so

    async def process(self, t: int, candle: Candle) -> AsyncIterator[Event]:
        """What the exchange did with our orders since it was last asked."""
        for client_id in self._followed():
            for event in resends_first(await self.venue.sync(client_id)):
                yield event

    def learn(self, candle: Candle) -> None:
        pass

    def snapshot(self) -> dict:
        return {}

    def restore(self, state: dict) -> None:
        pass

    async def adopt(self, client_id: str, ts_ms: int) -> list[Event] | None:
        """A client id a previous process journaled with no answer: what the exchange did with it (found:
        adopted; proven absent: resent under its next attempt's id; still unknown: nothing yet, followed)."""
        if client_id not in self.venue.submissions:
            raise LookupError(f"order {client_id} is journaled but was not followed at start-up")
        self.waiting.discard(client_id)
        return resends_first(await self.venue.sync(client_id))

    async def recover(self, orders: Iterable[JournaledOrder], booked: Iterable[BookedFill],
                      books: Collection[str]) -> list[Event]:
        """Follow every journaled order that has not ended; those in `books` (client ids the books hold open)
        are brought to the exchange's truth now, their events returned."""
        orders, booked = list(orders), list(booked)
        unclaimed = [o for o in orders if o.client_id not in books]
        self.venue.follow(unclaimed, booked)
        self.waiting |= {o.client_id for o in unclaimed}
        return resends_first(await self.venue.reconcile([o for o in orders if o.client_id in books], booked))

    async def resolve(self) -> list[Event]:
        """Before the process stops: every order sent whose fate is unknown, looked up until found or proven
        never placed (then closed, not resent: nobody would follow the resend)."""
        events: list[Event] = []
        for client_id in sorted(self.unresolved() - self.waiting):
            events += await self.venue.sync(client_id, resend=False)
        return events

    def unresolved(self) -> set[str]:
        """Client ids sent whose fate the exchange has not told yet (UNKNOWN: looked up again at each poll)."""
        return {cid for cid, sub in self.venue.submissions.items()
                if not sub.closed and sub.phase in (Phase.SENDING, Phase.UNKNOWN)}


def resends_first(events: list[Event]) -> list[Event]:
    """`events` with every resend's announcement (`OrderSubmitted` of attempt n+1) moved before the end of the
    attempt it replaces, so the loop hands the intent over before the old attempt closes."""
    out = list(events)
    for i, event in enumerate(out):
        if event.kind != "order_submitted":
            continue
        intent = intent_of(event.client_id)
        for j in range(i - 1, -1, -1):
            earlier = out[j]
            if earlier.kind == "order_cancelled" and intent is not None and intent_of(earlier.client_id) == intent:
                out.insert(j, out.pop(i))
                break
    return out
