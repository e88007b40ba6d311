"""Orders and their lifecycle: an order is an intent, and its state machine is the one the exchange runs.

    pending -> submitted -> accepted -> partially_filled -> filled
       |           |           |              |
       |           +-----------+--------------+--> pending_cancel (asked, not confirmed: fills may still come)
       +-----------+-----------+------> rejected, cancelled          (filled, cancelled, rejected: terminal)

`Order.apply(event)` drives it with the venue's events (`engine.core.events`), so an order's state is a fold
over what the exchange said. A fill may arrive before the acknowledgement (live feeds do that), so a
submitted order can fill. Any other move raises `InvalidTransition`: a bug in the loop must stop the run,
not corrupt a ledger, and a refused event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any
from operator import attrgetter


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"  # stop-market: becomes a market order when the stop price trades


class TimeInForce(StrEnum):
    GTC = "gtc"  # good till cancelled: the unfilled rest carries to later bars
    IOC = "ioc"  # immediate or cancel: what the first bar it is live cannot fill is cancelled


class OrderStatus(StrEnum):
    PENDING = "pending"  # made, not yet sent
    SUBMITTED = "submitted"  # sent; the venue has not answered (live: unknown until it does)
    ACCEPTED = "accepted"  # the venue acknowledged it, with its own order id
    PENDING_CANCEL = "pending_cancel"  # a cancel was asked and not yet confirmed
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})
_S = OrderStatus
TRANSITIONS = {
    _S.PENDING: frozenset({_S.SUBMITTED, _S.REJECTED, _S.CANCELLED}),
    _S.SUBMITTED: frozenset({_S.ACCEPTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELLED, _S.REJECTED}),
    # an accepted order the venue cannot fill when its time comes (a filter at the fill) is rejected, as never traded
    _S.ACCEPTED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELLED, _S.REJECTED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELLED}),
    _S.PENDING_CANCEL: frozenset({_S.PENDING_CANCEL, _S.FILLED, _S.CANCELLED}),  # a fill may beat the cancel
}
FILLABLE = frozenset({_S.SUBMITTED, _S.ACCEPTED, _S.PARTIALLY_FILLED, _S.PENDING_CANCEL})


class InvalidTransition(RuntimeError):
    pass


@dataclass(slots=True)
class Order:
    client_id: str  # idempotency key: the same id is never submitted twice
    symbol: str
    side: int  # +1 buy, -1 sell
    qty: float  # base amount asked for (0 for a quote order)
    type: OrderType = OrderType.MARKET
    # or: quote to commit, fees included, the base amount found at the fill: for a buy the quote it spends
    # (Binance's quoteOrderQty), for a sell that opens a short the collateral it puts up (vectorbt's all-in short)
    quote_qty: float | None = None
    limit_px: float | None = None
    stop_px: float | None = None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False  # only closes the position: fills at most what is held, never opens the other side
    decided_bar: int = -1  # the bar whose close decided it
    live_from_bar: int = -1  # the first bar it can fill on (decided_bar + 1 + latency)
    status: OrderStatus = OrderStatus.PENDING
    filled_qty: float = 0.0
    spent: float = 0.0  # quote paid (buy) or received (sell), fees included; of a quote order, the quote committed
    avg_px: float = 0.0
    fees: float = 0.0
    reason: str = ""
    venue_order_id: str = ""  # the venue's name for it, once accepted

    def __post_init__(self) -> None:
        if self.side not in (1, -1):
            raise ValueError(f"order {self.client_id}: side must be +1 (buy) or -1 (sell), got {self.side}")
        if (self.qty > 0) == (self.quote_qty is not None and self.quote_qty > 0):
            raise ValueError(f"order {self.client_id}: give a positive base quantity or a positive quote amount, "
                             f"not both or neither (qty={self.qty}, quote_qty={self.quote_qty})")
        if self.quote_qty is not None and (self.type is not OrderType.MARKET or self.reduce_only):
            raise ValueError(f"order {self.client_id}: a quote amount is for market orders that open a position")
        if self.type is OrderType.LIMIT and not (self.limit_px or 0) > 0:
            raise ValueError(f"order {self.client_id}: a limit order needs a positive limit price")
        if self.type is OrderType.STOP and not (self.stop_px or 0) > 0:
            raise ValueError(f"order {self.client_id}: a stop order needs a positive stop price")

    def copy(self) -> Order:
        """An independent copy with the same state (a venue keeps its own); without `__init__`'s checks,
        which the original passed, because venues copy every order they are sent."""
        new = _new_object(Order)
        (new.client_id, new.symbol, new.side, new.qty, new.type, new.quote_qty, new.limit_px, new.stop_px, new.tif,
         new.reduce_only, new.decided_bar, new.live_from_bar, new.status, new.filled_qty, new.spent, new.avg_px,
         new.fees, new.reason, new.venue_order_id) = _fields_of(self)
        return new

    @property
    def remaining(self) -> float:
        """Base left to fill; for a quote order, quote left to spend."""
        return self.quote_qty - self.spent if self.quote_qty is not None else self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    def move(self, status: OrderStatus, reason: str = "") -> None:
        if status not in TRANSITIONS.get(self.status, frozenset()):
            raise InvalidTransition(f"order {self.client_id}: {self.status} -> {status} is not a valid transition")
        self.status = status
        if reason:
            self.reason = reason

    def apply(self, event: Any) -> None:
        """Take one of the venue's events about this order (`engine.core.events`); a refused one changes nothing."""
        kind = event.kind
        if kind == "order_filled":
            self._fill(event.qty, event.px, event.fee, event.done)
        elif kind == "order_accepted":
            self.move(OrderStatus.ACCEPTED)
            self.venue_order_id = event.venue_order_id
        elif kind in _MOVES:
            self.move(_MOVES[kind], getattr(event, "reason", ""))
        else:
            raise InvalidTransition(f"order {self.client_id}: {kind} is not an event about an order")

    def remaining_after(self, qty: float, px: float, fee: float) -> float:
        """`remaining` once a fill of `qty` at `px` paying `fee` is recorded."""
        return self.remaining - self._used(qty, px, fee)

    def completes(self, qty: float, px: float, fee: float) -> bool:
        """Whether a fill of `qty` at `px` paying `fee` leaves nothing of the order."""
        size = self.quote_qty if self.quote_qty is not None else self.qty
        return self.remaining_after(qty, px, fee) <= size * 1e-9

    def _used(self, qty: float, px: float, fee: float) -> float:
        """What a fill takes from `remaining`: base, or for a quote order the quote it costs."""
        if self.quote_qty is None:
            return qty
        return qty * px + fee

    def _fill(self, qty: float, px: float, fee: float, done: bool) -> None:
        if self.status not in FILLABLE:
            raise InvalidTransition(f"order {self.client_id}: a {self.status} order cannot fill")
        if not (qty > 0 and self._used(qty, px, fee) <= self.remaining * (1 + 1e-9) + 1e-12):
            raise InvalidTransition(f"order {self.client_id}: fill of {qty} exceeds what remains ({self.remaining})")
        cost = qty * px + fee if self.side > 0 or self.quote_qty is not None else qty * px - fee
        total = self.filled_qty + qty
        self.avg_px = (self.avg_px * self.filled_qty + px * qty) / total
        self.filled_qty, self.spent, self.fees = total, self.spent + cost, self.fees + fee
        if done:
            self.status = OrderStatus.FILLED
        elif self.status is not OrderStatus.PENDING_CANCEL:
            self.status = OrderStatus.PARTIALLY_FILLED


_MOVES = {"order_submitted": OrderStatus.SUBMITTED, "order_rejected": OrderStatus.REJECTED,
          "order_cancelled": OrderStatus.CANCELLED}


_FIELDS = tuple(f.name for f in fields(Order))
_fields_of = attrgetter(*_FIELDS)
_new_object = object.__new__
