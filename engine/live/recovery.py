"""Recovery: what a restarted runner reads back from the journal before it trades again, and what it asks the
venue. Pure functions and records; the session does the driving (`Session.recover`).

- A session's snapshot is JSON: `to_json` / `from_json` carry the non-finite floats JSON has no word for (a
  decision with no stop holds NaN) as `{"$float": "nan"}`, so a snapshot restores bit for bit.
- The events after a snapshot come back as whole candles (`ticks_after`): a runner journals each candle's
  events in one transaction that ends with its `BarClosed`, so a kill leaves whole candles or none.
- Re-driving a journaled candle must give back the journaled events. Its inputs from outside the deployment
  (the kill switch, stale data, the portfolio's limits) are read from those events (`JournaledInputs`),
  because another deployment's books or a late candle are not there to ask again.
- A live venue holds the truth about orders: `reconcile` compares what the journal and the loop believe
  with what the venue says (`VenueView`: this deployment's orders by client id, its open orders, trades since
  the last one seen, balances) and returns the events that repair the books, or the mismatches it cannot
  explain, on which the runner halts with an alert-level log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core.events import (RUNNER_RULES, BarClosed, Event, FlattenOrdered, OrderAccepted, OrderCancelled,
                                OrderFilled, OrderRejected, RiskChecked)
from engine.core.ids import parse_client_id, scope_tag
from engine.core.ledger import FEE_IN_BASE, FEE_IN_QUOTE, Fill
from engine.core.orders import Order, OrderStatus
from engine.live.journal import Entry

__all__ = ["Books", "JournaledInputs", "JournaledTick", "KILL_PREFIX", "Mismatch", "RecoveryError", "Reconciliation",
           "Refusal", "VenueView", "fill_event", "from_json", "reconcile", "ticks_after", "to_json"]

KILL_PREFIX = "kill switch: "  # how an order cancelled by the kill switch says so


class RecoveryError(RuntimeError):
    """The journal and a re-drive of it disagree, or the venue says what the books cannot explain: the runner
    halts this deployment rather than trade on books it cannot trust."""


def to_json(value: Any) -> Any:
    """`value` with every non-finite float as `{"$float": "nan" | "inf" | "-inf"}` and tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """The inverse of `to_json` (lists stay lists: the books' `restore` methods take them)."""
    if isinstance(value, Mapping):
        if len(value) == 1 and "$float" in value:
            return float(value["$float"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Refusal:
    """An entry the runner kept from the venue: the `RiskChecked` naming the rule, the rejection's words."""

    checked: RiskChecked
    reason: str


@dataclass(frozen=True, slots=True)
class JournaledTick:
    """One candle's events as journaled, its `BarClosed` last."""

    ts_ms: int
    events: tuple[Event, ...]
    seq: int  # the seq of its last event


def ticks_after(entries: Sequence[Entry]) -> list[JournaledTick]:
    """The journaled events (after a snapshot) cut into candles; a trailing part without its `BarClosed` means
    the journal was not written by a runner's whole-candle transactions, and is refused."""
    ticks, current = [], []
    for entry in entries:
        current.append(entry.event)
        if type(entry.event) is BarClosed:
            ticks.append(JournaledTick(entry.event.ts_ms, tuple(current), entry.seq))
            current = []
    if current:
        raise RecoveryError(f"the journal ends with {len(current)} event(s) of {entries[-1].deployment} that no "
                            f"bar close follows (first: {current[0]}); a runner journals whole candles")
    return ticks


@dataclass(frozen=True, slots=True)
class JournaledInputs:
    """A journaled candle's inputs from outside its deployment, read back from its events: the kill switch's
    reason if it cancelled orders or closed the position then, whether it closed the position (a
    `FlattenOrdered`: asked at a candle with nothing to close, a flatten leaves no event and needs none), and
    each entry the runner refused before the venue."""

    kill: str | None
    refusals: Mapping[str, Refusal]
    flatten: bool = False

    @classmethod
    def of(cls, tick: JournaledTick) -> JournaledInputs:
        kill, refusals, flatten = None, {}, False
        events = tick.events
        for i, event in enumerate(events):
            if type(event) is OrderCancelled and event.reason.startswith(KILL_PREFIX):
                kill = event.reason[len(KILL_PREFIX):]
            if type(event) is FlattenOrdered:
                kill, flatten = event.reason, True
            if type(event) is RiskChecked and event.rule in RUNNER_RULES and i + 1 < len(events) \
                    and type(nxt := events[i + 1]) is OrderRejected:
                refusals[nxt.client_id] = Refusal(event, nxt.reason)
        return cls(kill, refusals, flatten)

    def refusal(self, order: Order) -> Refusal | None:
        return self.refusals.get(order.client_id)


@dataclass(frozen=True, slots=True)
class VenueView:
    """What the venue says about one deployment: its orders by client id (None: unknown to the venue), the
    open orders it holds for this deployment's scope, its trades since the last one journaled, and balances."""

    orders: Mapping[str, Order | None]
    open_orders: Sequence[Order]
    trades: Sequence[Fill]
    balances: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Mismatch:
    client_id: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The events that bring the books to the venue's truth, and what could not be explained."""

    repairs: tuple[Event, ...] = ()
    mismatches: tuple[Mismatch, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True, slots=True)
class Books:
    """What the loop believes: its open orders, fills booked per client id (qty), and the position and cash
    it changed since the deployment started, against the venue's balances then (`baseline`)."""

    scope: str
    base: str
    quote: str
    open_orders: Sequence[Order]
    filled: Mapping[str, float]
    position: float
    cash_change: float
    baseline: Mapping[str, float] = field(default_factory=dict)
    unanswered: frozenset[str] = frozenset()  # intents journaled with no answer, unknown to the loop


def reconcile(books: Books, view: VenueView, ts_ms: int, tolerance: float = 1e-9) -> Reconciliation:
    """Repair each order the loop holds open from the venue's word on it; an order of this deployment's scope
    open at the venue but unknown to the books, an order the books say the venue accepted that it does not
    know, or balances that differ from the books (after the repairs, and the fills of intents still
    unanswered, which the next candle adopts) are mismatches."""
    repairs: list[Event] = []
    mismatches: list[Mismatch] = []
    position, cash = books.position, books.cash_change
    for order in books.open_orders:
        found = view.orders.get(order.client_id)
        fixes, problem = _repair(order, found, view.trades, books, ts_ms)
        repairs += fixes
        if problem is not None:
            mismatches.append(Mismatch(order.client_id, problem))
        for fix in fixes:
            if type(fix) is OrderFilled:
                position, cash = _moved(position, cash, order.side, fix, books)
    for fill in view.trades:
        if fill.order_id in books.unanswered:
            position, cash = _moved(position, cash, fill.side, fill_event(fill, "", False, books.base, books.quote), books)
    known = {o.client_id for o in books.open_orders} | set(books.filled) | books.unanswered
    tag = scope_tag(books.scope)
    for order in view.open_orders:
        parsed = parse_client_id(order.client_id)
        if parsed is not None and parsed.scope == tag and order.client_id not in known:
            mismatches.append(Mismatch(order.client_id, "open at the venue, unknown to the journal"))
    mismatches += _balances(position, cash, view.balances, books, tolerance)
    return Reconciliation(tuple(repairs), tuple(mismatches))


def _repair(order: Order, found: Order | None, trades: Iterable[Fill], books: Books,
            ts_ms: int) -> tuple[list[Event], str | None]:
    """The events that take `order` (as the loop holds it) to `found` (as the venue holds it)."""
    cid = order.client_id
    if found is None:
        if order.status is OrderStatus.SUBMITTED and not order.venue_order_id:
            return [OrderRejected(ts_ms, cid, "never reached the venue (not found by client id at start-up)")], None
        return [], f"the journal has it {order.status.value} as venue order {order.venue_order_id}; the venue " \
                   "does not know it"
    out: list[Event] = []
    if order.status is OrderStatus.SUBMITTED and found.status is not OrderStatus.REJECTED:
        out.append(OrderAccepted(ts_ms, cid, found.venue_order_id or f"venue-{cid}"))
    new = [f for f in trades if f.order_id == cid]
    booked = books.filled.get(cid, 0.0)
    seen = 0.0
    for i, fill in enumerate(new):
        seen += fill.qty
        if seen <= booked + 1e-12:
            continue
        last = i == len(new) - 1 and found.status is OrderStatus.FILLED
        out.append(fill_event(fill, f"{cid}:{fill.ts_ms}:{i}", last, books.base, books.quote))
    if found.status is OrderStatus.CANCELLED:
        out.append(OrderCancelled(ts_ms, cid, found.reason or "cancelled at the venue"))
    elif found.status is OrderStatus.REJECTED:
        out.append(OrderRejected(ts_ms, cid, found.reason or "rejected at the venue"))
    return out, None


def fill_event(fill: Fill, trade_id: str, done: bool, base: str, quote: str) -> OrderFilled:
    """The `OrderFilled` a venue's fill (as `trades_since` reports it) stands for, its fee asset named."""
    asset = {FEE_IN_QUOTE: quote, FEE_IN_BASE: base}.get(fill.fee_asset, fill.fee_asset)
    return OrderFilled(fill.ts_ms, fill.order_id, fill.qty, fill.px, fill.fee, asset, trade_id, done)


def _moved(position: float, cash: float, side: int, fill: OrderFilled, books: Books) -> tuple[float, float]:
    fee_quote = fill.fee if fill.fee_asset == books.quote else fill.fee * fill.px if fill.fee_asset == books.base else 0.0
    base_fee = fill.fee if fill.fee_asset == books.base else 0.0
    return position + side * fill.qty - base_fee, cash - side * fill.qty * fill.px - (fee_quote if not base_fee else 0.0)


def _balances(position: float, cash: float, balances: Mapping[str, float], books: Books,
              tolerance: float) -> list[Mismatch]:
    out = []
    for asset, expected in ((books.base, position), (books.quote, cash)):
        held = balances.get(asset, 0.0) - books.baseline.get(asset, 0.0)
        if abs(held - expected) > tolerance * max(1.0, abs(expected), abs(held)):
            out.append(Mismatch(None, f"{asset}: the venue's balance moved {held:.10g} since the start, the books "
                                      f"{expected:.10g}"))
    return out
