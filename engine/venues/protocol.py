"""The venue protocol: what the loop's drivers need of any place orders go. Commands go in; what happened
comes back as events (`engine.core.events`), never as return values to trust blindly.

`Venue` is the synchronous form the simulated venue (`engine.sim.SimVenue`) offers to replay and paper
trading; `AsyncVenue` is the same surface as coroutines, for venues behind a network (the ccxt venue), whose
every call may time out after the exchange acted. Its trades carry the exchange's trade id (`VenueFill`, whose
`as_fill()` is the ledger's `Fill`): a fill read twice from the exchange is booked once by that id.
"""

from __future__ import annotations

from typing import Protocol

from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.events import Event
from engine.core.ledger import Fill
from engine.core.orders import Order
from engine.venues.reports import VenueFill

__all__ = ["AsyncVenue", "Venue"]


class Venue(Protocol):
    def submit(self, command: SubmitOrder) -> list[Event]: ...

    def cancel(self, command: CancelOrder) -> list[Event]: ...

    def order(self, client_id: str) -> Order | None: ...

    def open_orders(self) -> list[Order]: ...

    def trades_since(self, ts_ms: int) -> list[Fill]: ...

    def balances(self) -> dict[str, float]: ...


class AsyncVenue(Protocol):
    async def submit(self, command: SubmitOrder) -> list[Event]: ...

    async def cancel(self, command: CancelOrder) -> list[Event]: ...

    async def order(self, client_id: str) -> Order | None: ...

    async def open_orders(self) -> list[Order]: ...

    async def trades_since(self, ts_ms: int) -> list[VenueFill]: ...

    async def balances(self) -> dict[str, float]: ...
