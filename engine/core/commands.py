"""Commands: what the loop asks a venue to do, imperative and typed. The loop returns them; a driver sends
them (to the simulated venue in replay and paper, to the exchange through ccxt live) and feeds the venue's
answers back as events. An order's intent is journaled (its `OrderSubmitted` event) before its command leaves.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.core.orders import Order

__all__ = ["CancelOrder", "Command", "SubmitOrder"]


class SubmitOrder(NamedTuple):
    """Place `order`. `last_px` is the last close the decision saw: a simulated venue screens a market order's
    notional at it (Binance checks it against its recent average price)."""

    ts_ms: int
    order: Order
    last_px: float


class CancelOrder(NamedTuple):
    ts_ms: int
    client_id: str
    reason: str


Command = SubmitOrder | CancelOrder
