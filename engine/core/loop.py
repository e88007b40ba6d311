"""The one loop: the books and the decisions of one market, as a pure state machine. Inputs are the opening
and closing of bars, decisions taken at a bar's close, and the venue's events; outputs are commands
(`engine.core.commands`) and events. No arrays over the history, no clock reads, no I/O: replay drives it over
history with the simulated venue, and paper and live drive the same object one closed candle at a time.

A driver calls, for each bar it visits (bar numbers are the driver's count, never an identity):
`on_open(t, ts_ms)`, then `on_decision(...)` for each decision taking effect at that open, sending the
commands it returns to the venue and feeding every venue event back through `on_event` (which may return more
commands: an entry's protection, the second leg of a reversal), then `on_close(t, ts_ms, bars)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from engine.core.commands import CancelOrder, Command, SubmitOrder
from engine.core.costs import Costs
from engine.core.events import (BarClosed, Decided, Event, FlattenOrdered, InterestCharged, OrderFilled,
                                OrderRejected, OrderSubmitted, RiskChecked)
from engine.core.ids import client_order_id, parse_client_id
from engine.core.ledger import FEE_IN_BASE, FEE_IN_QUOTE, Fill, Ledger
from engine.core.market_rules import MarketRules
from engine.core.orders import Order, OrderStatus, OrderType
from engine.core.realism import Realism
from engine.core.risk import RiskBook, RiskConfig
from engine.core.snapshot import (book_from, book_state, fill_from, ledger_from, ledger_state, order_from,
                                  order_state)

__all__ = ["Decision", "Loop", "LoopConfig", "Signal", "target_of"]

Signal = tuple[bool, bool, bool, bool]  # long entry, long exit, short entry, short exit
_new_tuple = tuple.__new__
_TARGETS = {(0, 1): "long entry", (0, -1): "short entry", (1, 0): "long exit", (-1, 0): "short exit",
            (1, -1): "reverse to short", (-1, 1): "reverse to long"}


class Decision(NamedTuple):
    """A decision taken at the close of bar `decided` (at `decided_ms`), acting at the open of bar `t`: what
    the strategy said, the fraction of the allowed size, the stop-loss and take-profit fractions (nan: none),
    and what the risk rules price it with: the close it was decided at and the trailing ATR there."""

    t: int
    ts_ms: int
    decided: int
    decided_ms: int
    signal: Signal
    size: float
    stops: tuple[float, float]
    px: float
    atr: float = 0.0


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """What a loop is built from: costs, realism, the market's rules, risk (None: nothing checked, all-in
    sizing, as the sweep), whose orders these are (`scope`, part of every client id) and the bar length."""

    costs: Costs
    realism: Realism
    rules: MarketRules
    risk: RiskConfig | None = None
    scope: str = "replay"
    bar_ms: int = 0


def target_of(heading: int, signal: Signal) -> int | None:
    """Where a decision takes the books: +1 long, -1 short, 0 flat, None nowhere (vectorbt's defaults:
    an entry together with its own exit, or both entries at once, is ignored; an opposite entry reverses)."""
    long_entry, long_exit, short_entry, short_exit = signal
    if long_entry and long_exit:
        long_entry = long_exit = False
    if short_entry and short_exit:
        short_entry = short_exit = False
    if long_entry and short_entry:
        long_entry = short_entry = False
    if heading > 0:
        return -1 if short_entry else 0 if long_exit else None
    if heading < 0:
        return 1 if long_entry else 0 if short_exit else None
    return 1 if long_entry else -1 if short_entry else None


class Loop:
    """Decisions in, orders out as commands, the venue's events folded into the orders, the ledger and the
    risk book; every step an event (`events`, and `on_event_hook` for a journal or a log)."""

    def __init__(self, config: LoopConfig, on_event_hook: Callable[[Event], None] | None = None) -> None:
        costs, realism = config.costs, config.realism
        self.config, self.realism, self.rules = config, realism, config.rules
        self.quote_asset, self.base_asset = config.rules.quote_asset, config.rules.symbol.split("/")[0]
        self.ledger = Ledger(cash=costs.init_cash)
        self.orders: list[Order] = []
        self.by_id: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.events: list[Event] = []
        self.open: list[Order] = []  # ours that the venue may still fill, in the order they were accepted
        self.hook = on_event_hook
        self.protection: dict[str, tuple[float, float]] = {}  # entry order -> (stop-loss, take-profit) fractions
        self.oco: dict[str, Order] = {}  # protective order -> its sibling (itself when alone)
        self.deferred: tuple[Decision, int] | None = None  # a reversal's entry (and its side), once flat
        risk = config.risk
        self.book = RiskBook(risk.limits, risk.sizing, peak=costs.init_cash, day_start=costs.init_cash,
                             last_equity=costs.init_cash) if risk else None
        self.borrow_per_bar = realism.borrow_per_bar(config.bar_ms)  # a short's interest per bar
        self.borrows = self.borrow_per_bar > 0
        self.t, self.ts_ms = 0, 0  # the bar the driver is on and its open time
        self.horizon: int | None = None  # a finite replay's bar count (paper and live: None, no end)
        self.record_bar, self.record_cash, self.record_qty, self.record_from = [0], [costs.init_cash], [0.0], [0]
        self.accrual: tuple[int, tuple[float, float, float]] | None = None  # a short's interest: from bar, books

    # -- the driver's calls -------------------------------------------------------------------------------

    def on_open(self, t: int, ts_ms: int) -> None:
        """Bar t opens. A short accrues interest from the bar the position last changed (the last record);
        the venue charges it (`InterestCharged`), the books are set from that bar's cash, so any driver,
        visiting any bars, books the same cash at the same bar."""
        self.t, self.ts_ms = t, ts_ms
        if self.ledger.qty >= 0 or not self.borrows:
            self.accrual = None
        elif self.accrual is None:
            self.accrual = (self.record_bar[-1], self.ledger.interest_base())

    def on_decision(self, d: Decision) -> list[Command]:
        """The decision of bar `d.decided` takes effect at this bar's open, resolved as vectorbt's
        `from_signals` does by default; a reversal closes, then opens the other side once flat."""
        heading = self.heading()
        target = target_of(heading, d.signal)
        if target is None:
            return []
        self.emit(_new_tuple(Decided, (d.ts_ms, d.decided_ms, _TARGETS[heading, target])))
        self.deferred = None
        out: list[Command] = self._close(d, heading) if heading else []
        if target:
            if not self.held():
                out += self._enter(d, target)
            else:
                self.deferred = (d, target)  # opens once the close has filled
        return out

    def on_event(self, event: Event) -> list[Command]:
        """A venue's event: the order takes it (its state is a fold over them), the books follow."""
        kind = event.kind
        if kind == "interest_charged":
            self.ledger.accrue_interest(event.accrued, self.accrual[1])
            self.emit(event)
            return []
        if kind == "order_submitted":
            self._resent(event)
            return []
        order = self.by_id[event.client_id]
        order.apply(event)
        self.emit(event)
        if kind == "order_filled":
            return self._filled(order, event)
        if kind in ("order_rejected", "order_cancelled"):
            return self._gone(order, kind == "order_rejected")
        return []

    def flatten(self, last_px: float, reason: str) -> list[Command]:
        """Close the whole position at this bar's open with one reduce-only market order (a runner's kill switch
        latched with `--flatten`; the driver cancels the open orders first), its id made from the bar's open
        time (role `flatten`), announced by a `FlattenOrdered` naming `reason`. Nothing, and no event, when the
        books are flat, when a market close is open already, or when what is held is less than the exchange
        trades at `last_px` (dust): so a driver may ask at every bar, and the event says whether it acted. A
        reversal waiting for its close to fill is dropped: the position ends flat."""
        held = self.ledger.qty
        if not held or any(o.reduce_only and o.type is OrderType.MARKET for o in self.open):
            return []
        if self.rules.violation(self.rules.round_qty(abs(held)), last_px) is not None:
            return []
        self.deferred = None
        order = Order(self.order_id(self.ts_ms, "flatten"), self.rules.symbol, -1 if held > 0 else 1, abs(held),
                      reduce_only=True, decided_bar=self.t, live_from_bar=self.t)
        self.emit(_new_tuple(FlattenOrdered, (self.ts_ms, order.client_id, held, reason)))
        return [self._submit(order, last_px)]

    def on_close(self, t: int, ts_ms: int, bars: int = 1) -> None:
        """Bar t closed (with `bars - 1` idle bars before it that the driver did not visit): record the
        books as they stand after it, and until the next record. A short still accruing interest is
        recorded at the cash and bar its interest counts from, so its value never depends on which bars a
        driver happened to visit."""
        start, cash = t, self.ledger.cash
        if self.accrual is not None:
            start, cash = self.accrual[0], self.accrual[1][0]
        self.record_bar.append(t)
        self.record_cash.append(cash)
        self.record_qty.append(self.ledger.qty)
        self.record_from.append(start)
        self.emit(_new_tuple(BarClosed, (ts_ms, bars)))

    def observe(self, equity: np.ndarray, ts_ms: np.ndarray) -> None:
        """The risk book learns the values of the bars that closed since it last did."""
        if self.book is not None:
            self.book.observe(equity, ts_ms)

    def forget(self) -> None:
        """Drop the history only a finite run reports, between two bars: the events, fills and round trips so
        far, every record but the last, the orders nothing can be heard of any more (done, and neither open,
        protecting nor protected), and the round trips' PnL beyond what sizing reads. What the loop does next
        never reads them; a runner that trades forever calls this after each candle (its journal holds them),
        so its memory and its snapshots stay the size of what is live. Replay never calls it."""
        live = {o.client_id for o in self.open} | set(self.oco) | set(self.protection)
        live.update(o.client_id for o in self.oco.values())
        self.orders = [o for o in self.orders if o.is_open or o.client_id in live]
        self.by_id = {o.client_id: o for o in self.orders}
        self.events, self.fills, self.ledger.round_trips = [], [], []
        for record in (self.record_bar, self.record_cash, self.record_qty, self.record_from):
            del record[:-1]
        if self.book is not None:
            del self.book.pnls[:-self.book.sizing.kelly_lookback]

    # -- helpers --------------------------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        self.events.append(event)
        if self.hook is not None:
            self.hook(event)

    def heading(self) -> int:
        """The side the books are on or on their way to: the position's, else an open entry's, else 0."""
        held = self.held()
        if held:
            return 1 if held > 0 else -1
        return next((o.side for o in self.open if not o.reduce_only), 0)

    def held(self) -> float:
        """The position as far as it can be traded: a remainder below the exchange's smallest amount (dust, as a
        commission charged in the asset bought leaves after the sale) counts as flat, since no order can close it."""
        qty = self.ledger.qty
        if qty and (abs(qty) < self.rules.min_qty or self.rules.round_qty(abs(qty)) == 0):
            return 0.0
        return qty

    def order_id(self, decided_ms: int, role: str) -> str:
        """The client id of the order playing `role` in the decision made at `decided_ms`."""
        return client_order_id(self.config.scope, decided_ms, role)

    def _submit(self, order: Order, last_px: float) -> SubmitOrder:
        """Our intent, recorded (`OrderSubmitted`) before the command leaves; the order is ours from now on."""
        self.orders.append(order)
        self.by_id[order.client_id] = order
        self.open.append(order)
        event = _new_tuple(OrderSubmitted, (self.ts_ms, order.client_id, order.side, order.type.value, order.qty,
                                            order.quote_qty, order.limit_px, order.stop_px, order.reduce_only))
        order.apply(event)
        self.emit(event)
        return _new_tuple(SubmitOrder, (self.ts_ms, order, last_px))

    def _resent(self, event: OrderSubmitted) -> None:
        """A venue sent one of our intents again under its next attempt's id (the first attempt was proven
        never placed). The new attempt takes the old one's place: in the open orders, in the protection an
        entry waits to place, and beside its one-cancels-other sibling; the venue closes the old one next."""
        old = self._attempt_of(event.client_id)
        order = old.copy()
        (order.client_id, order.status, order.filled_qty, order.spent, order.avg_px, order.fees, order.reason,
         order.venue_order_id) = (event.client_id, OrderStatus.PENDING, 0.0, 0.0, 0.0, 0.0, "", "")
        order.apply(event)
        self.orders.append(order)
        self.by_id[order.client_id] = order
        self.open[self.open.index(old)] = order
        if old.client_id in self.protection:
            self.protection[order.client_id] = self.protection.pop(old.client_id)
        if old.client_id in self.oco:
            sibling = self.oco.pop(old.client_id)
            self.oco[order.client_id] = order if sibling is old else sibling
            if sibling is not old and self.oco.get(sibling.client_id) is old:
                self.oco[sibling.client_id] = order
        self.emit(event)

    def _attempt_of(self, client_id: str) -> Order:
        """The open order an attempt `client_id` resends: same decision, same role, an earlier attempt."""
        new = parse_client_id(client_id)
        for order in reversed(self.open):
            old = parse_client_id(order.client_id)
            if new is not None and old is not None and (old.scope, old.decided_ms, old.role) == \
                    (new.scope, new.decided_ms, new.role) and old.attempt < new.attempt:
                return order
        raise KeyError(f"{client_id} is announced as a resend, but no open order of ours is an earlier attempt of it")

    def _cancel(self, order: Order, why: str) -> CancelOrder:
        """Stop counting on `order` now (it no longer protects or heads anywhere); the venue confirms."""
        self.open.remove(order)
        self.oco.pop(order.client_id, None)
        return _new_tuple(CancelOrder, (self.ts_ms, order.client_id, why))

    def _close(self, d: Decision, heading: int) -> list[Command]:
        """Cancel what would add to the position or protects it, and send one reduce-only market order."""
        out: list[Command] = [self._cancel(o, "exit signal") for o in list(self.open)
                              if (o.side == heading and not o.reduce_only) or o.client_id in self.oco]
        closing = any(o.reduce_only and o.type is OrderType.MARKET for o in self.open)
        if self.held() and not closing:  # an open market close already covers the position
            order = Order(self.order_id(d.decided_ms, "exit"), self.rules.symbol, -heading, abs(self.ledger.qty),
                          reduce_only=True, decided_bar=d.decided, live_from_bar=self.t)
            out.append(self._submit(order, d.px))
        return out

    def _enter(self, d: Decision, side: int) -> list[Command]:
        """An all-in (or `size` of it) market entry: a buy spends cash, a short commits free cash."""
        sl, tp = d.stops
        has_stop = math.isfinite(sl)
        collateral = self.ledger.free_cash
        quote = collateral * d.size if self.book is None else self._risk_checked(d, has_stop, collateral)
        if quote <= 0:
            return []
        order = Order(self.order_id(d.decided_ms, "entry"), self.rules.symbol, side, 0.0, quote_qty=quote,
                      decided_bar=d.decided, live_from_bar=self.t)
        if has_stop or math.isfinite(tp):
            self.protection[order.client_id] = d.stops
        return [self._submit(order, d.px)]

    def _risk_checked(self, d: Decision, has_stop: bool, collateral: float) -> float:
        """The quote the risk rules allow for an entry decided at the close `d.px`."""
        book = self.book
        equity = self.ledger.equity(d.px)
        wanted = book.size(equity, collateral, d.px, d.atr) * d.size
        allowed, rule = book.check_entry(self.ts_ms, equity, wanted, abs(self.held()) * d.px, has_stop)
        cooldown_ms = book.cooldown_until_ms if rule == "cooldown" else 0
        self.emit(RiskChecked(self.ts_ms, equity, wanted, allowed, rule, book.peak, book.day_start, cooldown_ms))
        return allowed

    def _protect(self, entry: Order) -> list[Command]:
        """Place the entry's stop-loss (a stop) and take-profit (a limit) as one-cancels-other reduce-only
        orders against the position (sells for a long, buys for a short), live from the bar the entry filled
        on (the rest of that bar can already hit them), or from the next bar under vectorbt's conventions."""
        sl, tp = self.protection.pop(entry.client_id)
        rules, made, side = self.rules, [], -entry.side  # protection trades against the entry
        live = self.t + 1 if self.realism.vectorbt_stops else self.t
        if self.horizon is not None and live >= self.horizon:
            return []  # entered on the last bar of a finite replay: no bar left to protect
        held, decided_ms = abs(self.ledger.qty), parse_client_id(entry.client_id).decided_ms
        if math.isfinite(sl):
            made.append(Order(self.order_id(decided_ms, "stop_loss"), rules.symbol, side, held, OrderType.STOP,
                              reduce_only=True, stop_px=rules.round_px(entry.avg_px * (1 + side * sl), side),
                              decided_bar=entry.decided_bar, live_from_bar=live))
        if math.isfinite(tp):
            made.append(Order(self.order_id(decided_ms, "take_profit"), rules.symbol, side, held, OrderType.LIMIT,
                              reduce_only=True, limit_px=rules.round_px(entry.avg_px * (1 - side * tp), -side),
                              decided_bar=entry.decided_bar, live_from_bar=live))
        for order in made:
            self.oco[order.client_id] = made[-1] if order is made[0] else made[0]
        return [self._submit(order, entry.avg_px) for order in made]

    def _filled(self, order: Order, event: OrderFilled) -> list[Command]:
        fill = self._fill_of(order, event)
        if event.done and not order.completes(0.0, 0.0, 0.0) and not order.reason:
            order.reason = "the rest is less than one lot step"
        trips = len(self.ledger.round_trips)
        self.ledger.apply(fill)
        self.accrual = None  # the position changed: interest counts afresh from here
        self.fills.append(fill)
        if self.book is not None and len(self.ledger.round_trips) > trips:
            self.book.round_trip(self.ledger.round_trips[-1].pnl, self.ts_ms, self.config.bar_ms)
        if not event.done:
            return []
        self.open.remove(order)
        return self._after_fill(order)

    def _fill_of(self, order: Order, event: OrderFilled) -> Fill:
        """Our ledger's record of a venue's fill, its fee in the asset the venue charged it in."""
        asset, fee_px = event.fee_asset, 1.0
        if asset == self.quote_asset:
            asset = FEE_IN_QUOTE
        elif asset == self.base_asset:
            asset, fee_px = FEE_IN_BASE, event.px
        else:
            fee_px = self.ledger.marks.get(asset, 0.0)
        return _new_tuple(Fill, (order.client_id, self.t, event.ts_ms, order.side, event.qty, event.px, event.fee,
                                 asset, fee_px))

    def _after_fill(self, order: Order) -> list[Command]:
        out: list[Command] = []
        if order.client_id in self.protection:
            out += self._protect(order)
        sibling = self.oco.pop(order.client_id, None)
        if sibling is not None and sibling is not order and sibling.is_open and sibling in self.open:
            out.append(self._cancel(sibling, f"one-cancels-other: {order.client_id} filled"))
        if not self.held():  # flat: whatever still protects the old position goes
            out += [self._cancel(other, "position closed") for other in list(self.open) if other.client_id in self.oco]
            if self.deferred is not None:  # the reversal's second leg
                d, side = self.deferred
                self.deferred = None
                out += self._enter(d, side)
        return out

    def _gone(self, order: Order, rejected: bool) -> list[Command]:
        """The venue refused or cancelled an order: it no longer counts, nor protects, nor is protected."""
        if order in self.open:
            self.open.remove(order)
        self.protection.pop(order.client_id, None)
        sibling = self.oco.pop(order.client_id, None)
        if rejected and sibling is not None and sibling is not order and sibling.client_id in self.oco:
            self.oco[sibling.client_id] = sibling  # the protection that was placed stands alone
        return []

    # -- snapshots ------------------------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """The loop's state between two bars as JSON-able values (its events are the journal's, not here).
        Every order and fill so far is included: replay reports them all; a runner prunes what it archived."""
        return {
            "t": self.t, "ts_ms": self.ts_ms, "horizon": self.horizon,
            "ledger": ledger_state(self.ledger), "book": book_state(self.book),
            "orders": [order_state(o) for o in self.orders], "open": [o.client_id for o in self.open],
            "fills": [list(f) for f in self.fills], "protection": {k: list(v) for k, v in self.protection.items()},
            "oco": {k: v.client_id for k, v in self.oco.items()},
            "deferred": None if self.deferred is None else [list(self.deferred[0]), self.deferred[1]],
            "records": [self.record_bar, self.record_cash, self.record_qty, self.record_from],
            "accrual": None if self.accrual is None else [self.accrual[0], list(self.accrual[1])],
        }

    @classmethod
    def restore(cls, config: LoopConfig, state: dict, on_event_hook: Callable[[Event], None] | None = None) -> Loop:
        """A loop that continues exactly where the one that took `state` stood."""
        loop = cls(config, on_event_hook)
        loop.t, loop.ts_ms, loop.horizon = state["t"], state["ts_ms"], state["horizon"]
        loop.ledger, loop.book = ledger_from(state["ledger"]), book_from(config.risk, state["book"])
        loop.orders = [order_from(o) for o in state["orders"]]
        loop.by_id = {o.client_id: o for o in loop.orders}
        loop.open = [loop.by_id[i] for i in state["open"]]
        loop.fills = [fill_from(f) for f in state["fills"]]
        loop.protection = {k: (v[0], v[1]) for k, v in state["protection"].items()}
        loop.oco = {k: loop.by_id[v] for k, v in state["oco"].items()}
        if state["deferred"] is not None:
            d, side = state["deferred"]
            loop.deferred = (Decision(d[0], d[1], d[2], d[3], tuple(d[4]), d[5], tuple(d[6]), d[7], d[8]), side)
        loop.record_bar, loop.record_cash, loop.record_qty, loop.record_from = (list(r) for r in state["records"])
        if state["accrual"] is not None:
            loop.accrual = (state["accrual"][0], tuple(state["accrual"][1]))
        return loop
