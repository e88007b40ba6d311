"""Replay: the strategy's signals, computed once, walked through the event loop bar by bar, with the
fill model (`engine.sim.fills`, the simulated venue) filling orders and the ledger keeping the books.

The loop visits only bars where something happens (a decision takes effect, or an order is still open)
and records the books after each; every bar's value follows from those records in one pass at the end
(`engine.sim.valuation`). The same loop body paper and live will drive with a wall clock, at replay speed.
Every step is a typed event (`engine.core.events`); a `BarClosed` stands for the visited bar and the idle
stretch before it, so the records account for every bar.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from engine.strategy.bars import Bars
from engine.core.calendar import YEAR_MS
from engine.venues.clock import Clock, HistoricalClock
from engine.core.ids import client_order_id
from engine.core.events import (BarClosed, Decided, Event, InterestCharged, OrderAccepted, OrderCancelled,
                                OrderFilled, OrderRejected, OrderSubmitted, RiskChecked)
from engine.core.costs import Costs
from engine.strategy.signals import at_next_open
from engine.core.realism import Realism
from engine.core.matching import REFUSALS
from engine.sim.fills import FillModel
from engine.strategy.indicators_nb import atr_nb
from engine.core.ledger import Fill, Ledger
from engine.core.market_rules import MarketRules
from engine.core.orders import Order, OrderStatus, OrderType, TimeInForce
from engine.core.risk import RiskBook, RiskConfig
from engine.strategy.signals import Signals
from engine.sim.valuation import closes_before, value_bars

@dataclass
class ReplayResult:
    bars: Bars
    orders: list[Order]
    fills: list[Fill]
    ledger: Ledger
    equity: np.ndarray  # value at every bar's close
    position: np.ndarray  # base held at every bar's close
    events: list[Event] = field(default_factory=list)


class EventLoop:
    """The books and the handlers of one market: decisions in, orders through the fill model, fills into
    the ledger, every step an event. `replay` drives it over history; the same handlers take orders
    submitted by hand (an IOC order, a resting limit) for tests and, later, the paper and live runners."""

    def __init__(self, bars: Bars, costs: Costs, realism: Realism, rules: MarketRules, risk: RiskConfig | None = None,
                 on_event: Callable[[Event], None] | None = None, bar_ms: int = 0, scope: str = "replay",
                 lookahead: bool = True) -> None:
        self.bars, self.realism, self.ts_ms, self.scope = bars, realism, bars.ts_ms, scope
        # replay's shortcut: schedule a resting order for the first bar that can trigger it (a scan of bars to
        # come). Off, every live order is offered every bar, as a driver that sees one candle at a time must.
        self.lookahead = lookahead
        self.quote_asset = rules.quote_asset  # the simulated venue charges fees in quote
        self.venue = FillModel(bars, costs, realism, rules)
        self.ledger = Ledger(cash=costs.init_cash)
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.events: list[Event] = []
        self.open: list[Order] = []
        self.on_event = on_event
        self.protection: dict[str, tuple[float, float]] = {}  # entry order -> (stop-loss, take-profit) fractions
        self.oco: dict[str, Order] = {}  # protective order -> its sibling
        self.wake: dict[str, int] = {}  # resting order -> first bar it can trade on
        self.placed: list[Order] = []  # orders submitted during the current pass of `work`
        self.deferred: tuple[int, int, float, tuple[float, float]] | None = None  # a reversal's entry, once flat
        self.book = RiskBook(risk.limits, risk.sizing, peak=costs.init_cash, day_start=costs.init_cash,
                             last_equity=costs.init_cash) if risk else None
        self.bar_ms, self.borrow_per_bar = bar_ms, realism.borrow_rate * bar_ms / YEAR_MS
        self.prefix = closes_before(bars.close) if self.borrow_per_bar else None
        self.record_bar, self.record_cash, self.record_qty, self.record_from = [0], [costs.init_cash], [0.0], [0]
        self.accrual: tuple[int, float, tuple[float, float, float]] | None = None  # a short's interest: from, qty, books
        needs_atr = risk is not None and risk.sizing.method == "atr"
        self.atr = atr_nb(bars.high, bars.low, bars.close, 14, True) if needs_atr else None

    def order_id(self, decided: int, role: str) -> str:
        """The client id of the order playing `role` in the decision made at the close of bar `decided`."""
        return client_order_id(self.scope, int(self.ts_ms[decided]), role)

    def settle(self, t: int) -> None:
        """Bring the books to the open of bar t: a short owes interest on every bar since it last changed. The
        total is computed from that bar (not summed bar by bar), so any driver, visiting any bars, books the
        same cash at the same bar."""
        qty = self.ledger.qty
        if qty >= 0 or not self.borrow_per_bar:
            self.accrual = None
            return
        if self.accrual is None:  # the first settlement since the position last changed (at the last record)
            self.accrual = (self.record_bar[-1], qty, self.ledger.interest_base())
        start, held, base = self.accrual
        total = float(-held * self.borrow_per_bar * (self.prefix[t] - self.prefix[start]))
        charged = self.ledger.accrue_interest(total, base)
        if charged > 0:
            self.emit(_new_tuple(InterestCharged, (self._ts(t), charged, self.quote_asset)))

    def record(self, t: int) -> None:
        """The books as they stand after bar t, and until the next record; a short still accruing its
        interest is recorded at the cash and bar its interest counts from, so its value never depends on
        which bars a driver happened to visit."""
        start, cash = t, self.ledger.cash
        if self.accrual is not None:
            start, cash = self.accrual[0], self.accrual[2][0]
        self.record_bar.append(t)
        self.record_cash.append(cash)
        self.record_qty.append(self.ledger.qty)
        self.record_from.append(start)

    def value(self, lo: int, hi: int, since_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(equity, position) of bars [lo, hi) from the records (or from the last one only)."""
        k = len(self.record_bar) - 1 if since_last else 0
        return value_bars(np.array(self.record_bar[k:]), np.array(self.record_cash[k:]),
                          np.array(self.record_qty[k:]), self.bars.close, lo, hi, self.borrow_per_bar, self.prefix,
                          np.array(self.record_from[k:]))

    def emit(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _ts(self, t: int) -> int:
        """Open time of bar t, or the close of the last bar past the end (interest settled at the end)."""
        return int(self.ts_ms[t]) if t < len(self.ts_ms) else int(self.ts_ms[-1]) + self.bar_ms

    def heading(self) -> int:
        """The side the books are on or on their way to: the position's, else an open entry's, else 0."""
        if self.ledger.qty:
            return 1 if self.ledger.qty > 0 else -1
        return next((o.side for o in self.open if not o.reduce_only), 0)

    def decide(self, t: int, decided: int, signal: Decision, size: float, stops: tuple[float, float]) -> None:
        """The decision of bar `decided` takes effect at bar t, resolved as vectorbt's `from_signals` does by
        default (`_target`); a reversal closes, then opens the other side once flat."""
        heading = self.heading()
        target = _target(heading, signal)
        if target is None:
            return
        self.emit(_new_tuple(Decided, (int(self.ts_ms[t]), int(self.ts_ms[decided]), _TARGETS[heading, target])))
        self.deferred = None
        if heading:
            self.close(t, decided, heading)
        if target:
            if self.ledger.qty == 0:
                self.enter(t, target, decided, size, stops)
            else:
                self.deferred = (target, decided, size, stops)  # opens once the close has filled

    def close(self, t: int, decided: int, heading: int) -> None:
        """Cancel what would add to the position or protects it, and send one reduce-only market order."""
        for order in [o for o in self.open if (o.side == heading and not o.reduce_only) or o.client_id in self.oco]:
            self.cancel(order, t, "exit signal")
        closing = any(o.reduce_only and o.type is OrderType.MARKET for o in self.open)
        if self.ledger.qty and not closing:  # an open market close already covers the position
            self.submit(Order(self.order_id(decided, "exit"), self.venue.rules.symbol, -heading, abs(self.ledger.qty),
                              reduce_only=True,
                              decided_bar=decided, live_from_bar=t), t)

    def enter(self, t: int, side: int, decided: int, size: float, stops: tuple[float, float]) -> None:
        """An all-in (or `size` of it) market entry: a buy spends cash, a short commits free cash."""
        has_stop = math.isfinite(stops[0])
        collateral = self.ledger.free_cash
        quote = collateral * size if self.book is None else self._risk_checked(t, decided, size, has_stop, collateral)
        if quote > 0:
            order = Order(self.order_id(decided, "entry"), self.venue.rules.symbol, side, 0.0, quote_qty=quote,
                          decided_bar=decided, live_from_bar=t)
            self.submit(order, t)
            if order.is_open and (has_stop or math.isfinite(stops[1])):
                self.protection[order.client_id] = stops

    def _risk_checked(self, t: int, decided: int, size: float, has_stop: bool, collateral: float) -> float:
        """The quote the risk rules allow for an entry decided at the close of bar `decided`."""
        px = float(self.bars.close[decided])
        equity = self.ledger.equity(px)
        atr = float(self.atr[decided]) if self.atr is not None else 0.0
        wanted = self.book.size(equity, collateral, px, atr) * size
        book = self.book
        allowed, rule = book.check_entry(t, equity, wanted, abs(self.ledger.qty) * px, has_stop)
        cooldown_ms = self._ts(min(book.cooldown_until, len(self.ts_ms))) if rule == "cooldown" else 0
        self.emit(RiskChecked(int(self.ts_ms[t]), equity, wanted, allowed, rule, book.peak, book.day_start, cooldown_ms))
        return allowed

    def submit(self, order: Order, t: int) -> None:
        """Send an order: the venue either refuses it outright (it never becomes open) or accepts it."""
        self.orders.append(order)
        ts = int(self.ts_ms[t])
        self.tell(order, _new_tuple(OrderSubmitted, (ts, order.client_id, order.side, order.type.value, order.qty,
                                                     order.quote_qty, order.limit_px, order.stop_px, order.reduce_only)))
        why = self.venue.screen(order, float(self.bars.close[max(order.decided_bar, 0)]))
        if why is not None:
            self.tell(order, _new_tuple(OrderRejected, (ts, order.client_id, why)))
            return
        # the simulated venue acknowledges at once, numbering orders as it accepts them
        self.tell(order, _new_tuple(OrderAccepted, (ts, order.client_id, f"sim-{len(self.orders)}")))
        self.placed.append(order)
        self.open.append(order)

    def tell(self, order: Order, event: Event) -> None:
        """An event about `order`: the order takes it (its state is a fold over them), then it is published."""
        order.apply(event)
        self.emit(event)

    def cancel(self, order: Order, t: int, why: str) -> None:
        self.open.remove(order)
        self.oco.pop(order.client_id, None)
        self.tell(order, _new_tuple(OrderCancelled, (int(self.ts_ms[t]), order.client_id, why)))

    def protect(self, entry: Order, t: int) -> None:
        """Place the entry's stop-loss (a stop) and take-profit (a limit) as one-cancels-other reduce-only
        orders against the position (sells for a long, buys for a short), live from the bar the entry filled
        on (the rest of that bar can already hit them), or from the next bar under vectorbt's conventions."""
        sl, tp = self.protection.pop(entry.client_id)
        rules, made, side = self.venue.rules, [], -entry.side  # protection trades against the entry
        live = t + 1 if self.realism.vectorbt_stops else t
        if live >= len(self.bars):
            return  # entered on the last bar: no bar left to protect
        held = abs(self.ledger.qty)
        if math.isfinite(sl):
            made.append(Order(self.order_id(entry.decided_bar, "stop_loss"), rules.symbol, side, held, OrderType.STOP,
                              reduce_only=True,
                              stop_px=rules.round_px(entry.avg_px * (1 + side * sl), side),
                              decided_bar=entry.decided_bar, live_from_bar=live))
        if math.isfinite(tp):
            made.append(Order(self.order_id(entry.decided_bar, "take_profit"), rules.symbol, side, held,
                              OrderType.LIMIT, reduce_only=True,
                              limit_px=rules.round_px(entry.avg_px * (1 - side * tp), -side),
                              decided_bar=entry.decided_bar, live_from_bar=live))
        for order in made:
            self.submit(order, t)
        made = [order for order in made if order.is_open]  # the exchange may refuse one
        for order in made:
            self.schedule(order, order.live_from_bar)
        if len(made) == 2:
            self.oco[made[0].client_id], self.oco[made[1].client_id] = made[1], made[0]
        elif made:
            self.oco[made[0].client_id] = made[0]

    def schedule(self, order: Order, start: int) -> None:
        """When a resting order is next offered: the first bar from `start` that can trigger it (a scan of bars to
        come, replay's shortcut), or simply `start` when the loop may not look ahead."""
        self.wake[order.client_id] = self.venue.first_trigger(order, start) if self.lookahead else start

    def next_bar(self, done: int) -> int:
        """The first bar from `done` on where an open order can trade."""
        bars = [max(done, o.live_from_bar) if o.type is OrderType.MARKET else max(done, self.wake[o.client_id])
                for o in self.open]
        return min(bars, default=len(self.bars))

    def work(self, t: int) -> None:
        """Let every live open order trade on bar t: market orders, then stops (adverse first), then limits;
        orders placed on the way (an entry's protection) trade on the same bar."""
        live = [o for o in self.open if o.live_from_bar <= t]
        while live:
            if len(live) > 1:
                live.sort(key=lambda o: _PRIORITY[o.type])
            self.placed = []
            for order in live:
                if order.is_open and self.wake.get(order.client_id, t) <= t:
                    self._trade(order, t)
            live = [o for o in self.placed if o.is_open and o.live_from_bar <= t]
        if self.open and any(o.tif is TimeInForce.IOC for o in self.open):
            for order in [o for o in self.open if o.tif is TimeInForce.IOC and o.live_from_bar <= t]:
                self.cancel(order, t, "immediate or cancel: the rest did not fill on its first bar")

    def _trade(self, order: Order, t: int) -> None:
        fill, why = self.venue.execute_bar(order, t, self.ledger)
        if fill is None:
            if why.startswith(REFUSALS):
                if order.filled_qty == 0:  # never traded: the venue refuses it, as Binance would have at once
                    self.open.remove(order)
                    self.tell(order, _new_tuple(OrderRejected, (int(self.ts_ms[t]), order.client_id, why)))
                else:
                    self.cancel(order, t, f"the rest is refused: {why}")
            elif order.client_id in self.wake:
                self.schedule(order, t + 1)
            return
        done = order.completes(fill.qty, fill.px, fill.fee)
        crumb = not done and order.quote_qty is not None and order.remaining_after(fill.qty, fill.px, fill.fee) < \
            self.venue.rules.qty_step * (fill.px + fill.fee / fill.qty)  # left: less than a step, fee included
        self.tell(order, _new_tuple(OrderFilled, (fill.ts_ms, order.client_id, fill.qty, fill.px, fill.fee,
                                                  self.quote_asset, f"sim-t{len(self.fills) + 1}", done or crumb)))
        if crumb:
            order.reason, done = "the rest is less than one lot step", True
        trips = len(self.ledger.round_trips)
        self.ledger.apply(fill)
        self.accrual = None  # the position changed: interest counts afresh from here
        self.fills.append(fill)
        if self.book is not None and len(self.ledger.round_trips) > trips:
            self.book.round_trip(self.ledger.round_trips[-1].pnl, t)
        if order.client_id in self.wake and not done:  # what is left rests until a later bar
            self.schedule(order, t + 1)
        if done:
            self.open.remove(order)
            self._after_fill(order, t)

    def _after_fill(self, order: Order, t: int) -> None:
        if order.client_id in self.protection:
            self.protect(order, t)
        sibling = self.oco.pop(order.client_id, None)
        if sibling is not None and sibling is not order and sibling.is_open:
            self.cancel(sibling, t, f"one-cancels-other: {order.client_id} filled")
        if self.ledger.qty == 0:  # flat: whatever still protects the old position goes
            for other in [o for o in self.open if o.client_id in self.oco]:
                self.cancel(other, t, "position closed")
            if self.deferred is not None:  # the reversal's second leg
                target, decided, size, stops = self.deferred
                self.deferred = None
                self.enter(t, target, decided, size, stops)


def _target(heading: int, signal: Decision) -> int | None:
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


_new_tuple = tuple.__new__
_PRIORITY = {OrderType.MARKET: 0, OrderType.STOP: 1, OrderType.LIMIT: 2}
Decision = tuple[bool, bool, bool, bool]  # long entry, long exit, short entry, short exit
_TARGETS = {(0, 1): "long entry", (0, -1): "short entry", (1, 0): "long exit", (-1, 0): "short exit",
            (1, -1): "reverse to short", (-1, 1): "reverse to long"}


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
           risk: RiskConfig | None = None, on_event: Callable[[Event], None] | None = None,
           clock: Clock | None = None, scope: str = "replay", bar_by_bar: bool = False) -> ReplayResult:
    """Walk `signals` (decided at each bar's close) through the event loop; `risk=None` checks nothing and
    sizes all-in, as the sweep does. The loop waits on `clock` for each bar it visits to open and to close:
    the bars' own times by default (no waiting), or an accelerated clock to rehearse a deployment's pacing.
    `scope` names whose orders these are (a run, a deployment): it is part of every client order id.
    `bar_by_bar` visits every bar and offers every live order every bar, with no look at bars to come, as
    paper and live trading must: it gives the same orders, fills and equity, which is what proves the
    shortcuts of the default driver (skipping idle bars, scheduling resting orders) change nothing."""
    if len(signals) != len(bars):
        raise ValueError(f"signals have {len(signals)} rows for {len(bars)} bars")
    clock = clock if clock is not None else HistoricalClock(int(bars.ts_ms[0]) if len(bars) else 0)
    with _no_gc_pauses():
        return _replay(bars, signals, costs, realism, rules, risk, on_event, clock, scope, bar_by_bar)


def _replay(bars: Bars, signals: Signals, costs: Costs, realism: Realism, rules: MarketRules,
            risk: RiskConfig | None, on_event: Callable[[Event], None] | None, clock: Clock, scope: str,
            bar_by_bar: bool) -> ReplayResult:
    n, lag = len(bars), realism.latency_bars
    bar_ms = int(np.diff(bars.ts_ms).min()) if n > 1 else 0  # a gap in the data is not a longer bar
    effective = at_next_open(signals)
    never = np.zeros(n, dtype=bool)
    entries, exits = effective.entries, effective.exits
    short_entries = effective.short_entries if effective.short_entries is not None else never
    short_exits = effective.short_exits if effective.short_exits is not None else never
    due = np.flatnonzero(entries | exits | short_entries | short_exits)
    sl = effective.sl_stop[due] if effective.sl_stop is not None else np.full(len(due), np.nan)
    tp = effective.tp_stop[due] if effective.tp_stop is not None else np.full(len(due), np.nan)
    size = np.nan_to_num(effective.size[due], nan=1.0) if effective.size is not None else np.ones(len(due))
    # every decision as plain Python values, once: (bar it acts on, bar that decided it, what, size, stops)
    decisions = list(zip((due + lag).tolist(), (due - 1).tolist(),
                         zip(entries[due].tolist(), exits[due].tolist(), short_entries[due].tolist(),
                             short_exits[due].tolist()),
                         size.tolist(), zip(sl.tolist(), tp.tolist())))
    loop = EventLoop(bars, costs, realism, rules, risk, on_event, bar_ms, scope, lookahead=not bar_by_bar)
    done, k = 0, 0  # bars passed so far; next decision
    while True:
        if not loop.open and not bar_by_bar:  # skip what cannot change the books: an entry while in, an exit while out
            heading = loop.heading()
            while k < len(decisions) and _target(heading, decisions[k][2]) is None:
                k += 1
        t = decisions[k][0] if k < len(decisions) else n
        if bar_by_bar:
            t = done
        elif loop.open:
            t = min(t, loop.next_bar(done))  # open orders work on the bars where they can trade
        if t >= n:
            break
        clock.wait_until(int(bars.ts_ms[t]))  # bar t opens: the previous close's decisions act now
        loop.settle(t)
        if loop.book is not None and t > (last := loop.record_bar[-1]):  # the last visited bar and the idle ones after
            loop.book.observe(loop.value(last, t, since_last=True)[0], bars.ts_ms[last:t])
        stopped = False
        if realism.vectorbt_stops and loop.open:
            filled, protective = len(loop.fills), set(loop.oco)
            loop.work(t)  # vectorbt's order: resting stops on this bar before the decision, which a stop replaces
            stopped = any(fill.order_id in protective for fill in loop.fills[filled:])
        while k < len(decisions) and decisions[k][0] == t:  # decided before this bar opened: acted on at its open
            if not stopped:
                loop.decide(t, *decisions[k][1:])
            k += 1
        if loop.open:
            loop.work(t)
        loop.record(t)
        clock.wait_until(int(bars.ts_ms[t]) + bar_ms)
        loop.emit(_new_tuple(BarClosed, (int(bars.ts_ms[t]), t + 1 - done)))  # bar t and the idle stretch before it
        done = t + 1
    if n > done:
        clock.wait_until(int(bars.ts_ms[n - 1]) + bar_ms)
        loop.emit(_new_tuple(BarClosed, (int(bars.ts_ms[n - 1]), n - done)))
    loop.settle(n)
    equity, position = loop.value(0, n)
    return ReplayResult(bars, loop.orders, loop.fills, loop.ledger, equity, position, loop.events)
