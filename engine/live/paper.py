"""Paper trading's venue: the simulated venue (`engine.sim.SimVenue`, replay's fill model) behind the async
protocol a session drives, so one session drives paper and live alike (DESIGN.md: replay, paper and live
differ only in clock and venue).

A session asks a venue for what the `Venue` protocol offers (submit, cancel, an order by client id, open
orders, trades since, balances) and for what the passing of a candle brings (`settle` at its open, `process`
once it has closed, `learn` after). A paper venue restarts from the session's snapshot, so a candle handled again
after a crash was never matched by it; the candle in hand may be matched twice (vectorbt's stop conventions: the
resting stops, then the orders sent at the open), as replay does.
A paper venue's books are the process's own, so they go into the session's snapshots (`holds_books`); once a
candle has been matched, its done orders and fills are dropped (the journal has them), so they stay the size of
what is open however long the deployment runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable

from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.events import Event, OrderAccepted, OrderCancelled, OrderRejected
from engine.core.ledger import Fill
from engine.core.matching import Candle
from engine.core.orders import Order, OrderStatus
from engine.live.journal import FillRecord, OrderRecord
from engine.live.recovery import fill_event
from engine.sim.venue import SimVenue

__all__ = ["PaperVenue"]


class PaperVenue:
    """A `SimVenue` as an `AsyncVenue` with the candle hooks a session calls."""

    holds_books = True  # its account lives in this process: a session snapshots and restores it

    def __init__(self, sim: SimVenue) -> None:
        self.sim = sim
        self.matched_ms = -1  # the open time of the last candle matched

    async def submit(self, command: SubmitOrder) -> list[Event]:
        return self.sim.submit(command)

    async def cancel(self, command: CancelOrder) -> list[Event]:
        return self.sim.cancel(command)

    async def order(self, client_id: str) -> Order | None:
        found = self.sim.order(client_id)
        return None if found is None else found.copy()

    async def open_orders(self) -> list[Order]:
        return [order.copy() for order in self.sim.open_orders()]

    async def trades_since(self, ts_ms: int) -> list[Fill]:
        return self.sim.trades_since(ts_ms)

    async def balances(self) -> dict[str, float]:
        return self.sim.balances()

    @property
    def has_open(self) -> bool:
        return bool(self.sim.open)

    def settle(self, ts_ms: int) -> list[Event]:
        return self.sim.settle(ts_ms)

    async def process(self, t: int, candle: Candle) -> AsyncIterator[Event]:
        """The venue's events as it matches its open orders against candle t: never a candle before the last one
        matched. The candle in hand may be matched again (under vectorbt's stop conventions a session matches the
        resting stops first, then what the decisions sent at the open, as replay does); a venue whose books
        outlive the session (`holds_books` False) matches a candle once, so one handled again after a crash
        never fills twice."""
        if candle.ts_ms < self.matched_ms or (candle.ts_ms == self.matched_ms and not self.holds_books):
            return
        for event in self.sim.process(t, candle):
            yield event
        self.matched_ms = candle.ts_ms
        if self.holds_books:  # paper: the journal holds what it filled (a test's stand-in exchange keeps it all)
            self.sim.forget()

    def learn(self, candle: Candle) -> None:
        self.sim.learn(candle)

    async def adopt(self, client_id: str, ts_ms: int) -> list[Event] | None:
        """The venue's word on an order a previous process sent, as the events it would have answered; None
        when the venue never received it (a simulated venue answers at once: absent means never sent)."""
        found = self.sim.order(client_id)
        if found is None:
            return None
        if found.status is OrderStatus.REJECTED:
            return [OrderRejected(ts_ms, client_id, found.reason or "rejected at the venue")]
        out: list[Event] = [OrderAccepted(ts_ms, client_id, found.venue_order_id or f"venue-{client_id}")]
        base, quote = self.sim.rules.symbol.split("/")[0], self.sim.quote_asset
        trades = [f for f in self.sim.trades_since(0) if f.order_id == client_id]
        for i, fill in enumerate(trades):
            done = i == len(trades) - 1 and found.status is OrderStatus.FILLED
            out.append(fill_event(fill, f"{client_id}:{fill.ts_ms}:{i}", done, base, quote))
        if found.status is OrderStatus.CANCELLED:
            out.append(OrderCancelled(ts_ms, client_id, found.reason or "cancelled at the venue"))
        return out

    async def recover(self, orders: Iterable[OrderRecord], booked: Iterable[FillRecord],
                      books: Collection[str]) -> list[Event]:
        return []  # the books are the snapshot's, and the candles after it are handled again

    def unresolved(self) -> set[str]:
        return set()  # a simulated venue answers every request at once

    async def resolve(self) -> list[Event]:
        return []

    def snapshot(self) -> dict:
        return {"sim": self.sim.snapshot(), "matched_ms": self.matched_ms}

    def restore(self, state: dict) -> None:
        self.sim.restore(state["sim"])
        self.matched_ms = state["matched_ms"]
