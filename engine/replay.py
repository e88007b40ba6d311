"""Replay: the strategy's signals, computed once, walked through the event loop bar by bar, with the
simulated venue filling orders and the ledger keeping the books.

The loop visits only bars where something happens (a decision takes effect, or an order is still open)
and values the idle bars between them in bulk: the same loop body paper and live will drive with a wall
clock, at replay speed.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from engine.bars import Bars
from engine.events import Event, EventKind
from engine.execution import Costs, at_next_open
from engine.ledger import Fill, Ledger
from engine.market_rules import MarketRules
from engine.indicators_nb import atr_nb
from engine.orders import Order, OrderStatus
from engine.risk import RiskBook, RiskConfig
from engine.signals import Signals
from engine.venues.simulated import Realism, SimulatedVenue


@dataclass
class ReplayResult:
    bars: Bars
    orders: list[Order]
    fills: list[Fill]
    ledger: Ledger
    equity: np.ndarray  # value at every bar's close
    position: np.ndarray  # base held at every bar's close
    events: list[Event] = field(default_factory=list)


class _Loop:
    def __init__(self, bars: Bars, costs: Costs, realism: Realism, rules: MarketRules, risk: RiskConfig | None,
                 on_event: Callable[[Event], None] | None) -> None:
        self.bars, self.realism = bars, realism
        self.venue = SimulatedVenue(bars, costs, realism, rules)
        self.ledger = Ledger(cash=costs.init_cash)
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.events: list[Event] = []
        self.open: list[Order] = []
        self.on_event = on_event
        self.book = RiskBook(risk.limits, risk.sizing, peak=costs.init_cash, day_start=costs.init_cash) if risk else None
        needs_atr = risk is not None and risk.sizing.method == "atr"
        self.atr = atr_nb(bars.high, bars.low, bars.close, 14, True) if needs_atr else None

    def emit(self, kind: EventKind, t: int, order_id: str = "", detail: str = "") -> None:
        event = Event(kind, t, int(self.bars.ts_ms[t]), order_id, detail)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def decide(self, t: int, entry: bool, exit_: bool, decided: int, size: float, has_stop: bool) -> None:
        """The decision of bar `decided` takes effect at bar t: at most one order, as vectorbt would place."""
        if entry == exit_:
            return  # nothing, or a conflict vectorbt ignores
        self.emit(EventKind.SIGNAL, t, detail=f"{'entry' if entry else 'exit'} decided at bar {decided}")
        buying = any(o.side > 0 for o in self.open)
        selling = any(o.side < 0 for o in self.open)
        if exit_ and (self.ledger.qty > 0 or buying):
            for order in [o for o in self.open if o.side > 0]:
                self.cancel(order, t, "exit signal")
            if self.ledger.qty > 0 and not selling:  # an open sell already covers the position
                self.submit(Order(f"x{t}", self.venue.rules.symbol, -1, self.ledger.qty, decided_bar=decided,
                                  live_from_bar=t), t)
        elif entry and self.ledger.qty == 0 and not buying:
            quote = self.ledger.cash * size if self.book is None else self._risk_checked(t, decided, size, has_stop)
            if quote > 0:
                self.submit(Order(f"e{t}", self.venue.rules.symbol, 1, 0.0, quote_qty=quote, decided_bar=decided,
                                  live_from_bar=t), t)

    def _risk_checked(self, t: int, decided: int, size: float, has_stop: bool) -> float:
        """The quote the risk rules allow for an entry decided at the close of bar `decided`."""
        px = float(self.bars.close[decided])
        equity = self.ledger.equity(px)
        atr = float(self.atr[decided]) if self.atr is not None else 0.0
        wanted = self.book.size(equity, self.ledger.cash, px, atr) * size
        allowed, reason = self.book.check_entry(t, equity, wanted, self.ledger.qty * px, has_stop)
        self.emit(EventKind.RISK_DECISION, t, detail=reason or f"allowed: {allowed:.2f} of {equity:.2f} equity")
        return allowed

    def submit(self, order: Order, t: int) -> None:
        self.orders.append(order)
        order.move(OrderStatus.SUBMITTED)
        self.emit(EventKind.ORDER_SUBMITTED, t, order.client_id)
        self.open.append(order)

    def cancel(self, order: Order, t: int, why: str) -> None:
        order.move(OrderStatus.CANCELLED, why)
        self.open.remove(order)
        self.emit(EventKind.ORDER_CANCELLED, t, order.client_id, why)

    def work(self, t: int) -> None:
        """Let every live open order trade on bar t."""
        for order in [o for o in self.open if o.live_from_bar <= t]:
            fill, why = self.venue.execute(order, t, self.ledger.qty)
            if fill is None:
                first = order.status is OrderStatus.SUBMITTED
                if first and why.startswith("Filter failure"):
                    order.move(OrderStatus.REJECTED, why)
                    self.open.remove(order)
                    self.emit(EventKind.ORDER_REJECTED, t, order.client_id, why)
                elif not first and why.startswith("Filter failure"):
                    self.cancel(order, t, f"rest below the exchange minimum: {why}")
                continue
            order.record_fill(fill.qty, fill.px, fill.fee)
            trips = len(self.ledger.round_trips)
            self.ledger.apply(fill)
            self.fills.append(fill)
            if self.book is not None and len(self.ledger.round_trips) > trips:
                self.book.round_trip(self.ledger.round_trips[-1].pnl, t)
            step = self.venue.rules.qty_step
            if order.quote_qty is not None and order.is_open and order.remaining < step * fill.px * (1 + fill.fee / fill.notional):
                order.move(OrderStatus.FILLED, "the rest is less than one lot step")
            done = order.status is OrderStatus.FILLED
            self.emit(EventKind.ORDER_FILLED if done else EventKind.ORDER_PARTIALLY_FILLED, t, order.client_id,
                      f"{fill.qty:.8g} @ {fill.px:.8g}")
            if done:
                self.open.remove(order)


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """The loop allocates many small acyclic records; the cyclic collector only costs time here."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def replay(bars: Bars, signals: Signals, costs: Costs, realism: Realism, rules: MarketRules,
           risk: RiskConfig | None = None, on_event: Callable[[Event], None] | None = None) -> ReplayResult:
    """Walk `signals` (decided at each bar's close) through the event loop; `risk=None` checks nothing and
    sizes all-in, as the sweep does."""
    if len(signals) != len(bars):
        raise ValueError(f"signals have {len(signals)} rows for {len(bars)} bars")
    with _no_gc_pauses():
        return _replay(bars, signals, costs, realism, rules, risk, on_event)


def _replay(bars: Bars, signals: Signals, costs: Costs, realism: Realism, rules: MarketRules,
            risk: RiskConfig | None, on_event: Callable[[Event], None] | None) -> ReplayResult:
    n, lag = len(bars), realism.latency_bars
    effective = at_next_open(signals)
    entries, exits = effective.entries, effective.exits
    sizes = effective.size if effective.size is not None else np.ones(n)
    due = np.flatnonzero(entries | exits)
    loop = _Loop(bars, costs, realism, rules, risk, on_event)
    stops = effective.sl_stop
    equity, position = np.empty(n), np.empty(n)
    done, k = 0, 0  # bars valued so far; next decision
    while True:
        t = int(due[k]) + lag if k < len(due) else n
        if loop.open:
            t = min(t, done)  # an open order works on every bar until it is done
        if t >= n:
            break
        equity[done:t] = loop.ledger.cash + loop.ledger.qty * bars.close[done:t]
        position[done:t] = loop.ledger.qty
        if loop.book is not None:
            loop.book.observe(equity[done:t], bars.ts_ms[done:t])
        while k < len(due) and int(due[k]) + lag == t:  # decided before this bar opened: acted on first
            d = int(due[k])
            has_stop = stops is not None and bool(np.isfinite(stops[d]))
            loop.decide(t, bool(entries[d]), bool(exits[d]), d - 1, float(sizes[d]) if np.isfinite(sizes[d]) else 1.0,
                        has_stop)
            k += 1
        loop.work(t)
        equity[t], position[t] = loop.ledger.equity(float(bars.close[t])), loop.ledger.qty
        loop.emit(EventKind.BAR_CLOSED, t, detail=f"equity {equity[t]:.8g}")
        done = t + 1
    equity[done:] = loop.ledger.cash + loop.ledger.qty * bars.close[done:]
    position[done:] = loop.ledger.qty
    return ReplayResult(bars, loop.orders, loop.fills, loop.ledger, equity, position, loop.events)
