"""Replay: the strategy's signals, computed once, driven through the one loop (`engine.core.loop`) over
history, with the simulated venue (`engine.sim.SimVenue`) filling the loop's orders candle by candle.

Two drivers, one loop. The default one visits only bars where something can happen (a decision takes effect,
an order can trade: the first bar a resting order can trigger on is found by a scan of the bars to come) and
records the books after each; every bar's value follows from those records in one pass at the end
(`engine.sim.valuation`). `bar_by_bar=True` visits every bar and offers every open order every candle, with
no look at bars to come, exactly as paper and live trading drive the loop: the two give the same event
stream, orders, fills and equity, which is what proves the shortcuts change nothing.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from engine.core.commands import Command, SubmitOrder
from engine.core.costs import Costs
from engine.core.events import BarClosed, Event
from engine.core.ledger import Fill, Ledger
from engine.core.loop import Decision, Loop, LoopConfig, target_of
from engine.core.market_rules import MarketRules
from engine.core.orders import Order, OrderType
from engine.core.realism import Realism
from engine.core.risk import RiskConfig
from engine.sim.fills import FillModel
from engine.sim.valuation import closes_before, value_bars
from engine.sim.venue import SimVenue
from engine.strategy.bars import Bars
from engine.strategy.signals import Signals, at_next_open
from engine.strategy.trailing import SIZING_ATR_HISTORY, sizing_atr
from engine.venues.clock import Clock, HistoricalClock

__all__ = ["Replay", "ReplayResult", "last_decision", "replay"]


@dataclass
class ReplayResult:
    bars: Bars
    orders: list[Order]
    fills: list[Fill]
    ledger: Ledger
    equity: np.ndarray  # value at every bar's close
    position: np.ndarray  # base held at every bar's close
    events: list[Event] = field(default_factory=list)
    snapshot: dict | None = None  # where a replay stopped early (`stop_after`) stands, to `resume` from


class Replay:
    """The loop, the simulated venue and the history they are driven over: sends the loop's commands to the
    venue and feeds the venue's events back, and values the loop's records against the closes."""

    def __init__(self, bars: Bars, config: LoopConfig, on_event: Callable[[Event], None] | None = None,
                 venue_sums_closes: bool = False) -> None:
        self.bars, self.config = bars, config
        self.loop = Loop(config, on_event)
        self.loop.horizon = len(bars)
        self.model = FillModel(bars, config.costs, config.realism, config.rules)
        self.venue = SimVenue(config.costs, config.realism, config.rules, config.bar_ms, matcher=self.model)
        self.prefix = closes_before(bars.close) if self.loop.borrows else None
        self.wake: dict[str, int] = {}  # resting order -> first bar it can trade on (the default driver's scan)
        self.venue_sums_closes = venue_sums_closes  # True: the venue learns every candle; False: the driver tells it
        self.done = 0  # bars passed

    def send(self, commands: list[Command]) -> None:
        """Each command to the venue, each answer back to the loop, until nothing more is asked."""
        venue, loop = self.venue, self.loop
        for command in commands:
            answers = venue.submit(command) if type(command) is SubmitOrder else venue.cancel(command)
            for event in answers:
                more = loop.on_event(event)
                if more:
                    self.send(more)

    def open_bar(self, t: int, ts: int) -> None:
        """Bar t opens at `ts` (t == len(bars): the close of the last one): the loop learns it, the venue charges
        a short's interest up to it."""
        self.loop.on_open(t, ts)
        if self.prefix is not None:
            if not self.venue_sums_closes:
                self.venue.close_sum = float(self.prefix[t])  # what a venue seeing every candle would have summed
            for event in self.venue.settle(ts):
                self.loop.on_event(event)

    def work(self, t: int) -> None:
        """Let the venue match every live open order against candle t, the loop answering as fills come."""
        loop = self.loop
        for event in self.venue.process(t, self.model.candle(t)):
            more = loop.on_event(event)
            if more:
                self.send(more)

    def value(self, lo: int, hi: int, since_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(equity, position) of bars [lo, hi) from the loop's records (or from the last one only)."""
        loop = self.loop
        k = len(loop.record_bar) - 1 if since_last else 0
        return value_bars(np.array(loop.record_bar[k:]), np.array(loop.record_cash[k:]),
                          np.array(loop.record_qty[k:]), self.bars.close, lo, hi, loop.borrow_per_bar, self.prefix,
                          np.array(loop.record_from[k:]))

    def drive(self, decisions: list[Decision], clock: Clock, bar_by_bar: bool, stop_after: int | None) -> int:
        """Drive the loop from where it stands to the end of the bars (or past `stop_after`); returns the
        number of bars passed."""
        bars, loop, venue, realism = self.bars, self.loop, self.venue, self.config.realism
        n, bar_ms = len(bars), self.config.bar_ms
        last = n if stop_after is None else min(n, stop_after + 1)
        done = self.done
        k = bisect_left(decisions, done, key=lambda d: d.t)  # decisions before `done` have acted
        while True:
            if not venue.open and not bar_by_bar:  # skip what cannot change the books: an entry while in, an exit while out
                heading = loop.heading()
                while k < len(decisions) and target_of(heading, decisions[k].signal) is None:
                    k += 1
            t = decisions[k].t if k < len(decisions) else n
            if bar_by_bar:
                t = done
            elif venue.open:
                t = min(t, self.next_bar(done))  # open orders work on the bars where they can trade
            if t >= last:
                break
            ts = int(bars.ts_ms[t])
            clock.wait_until(ts)  # bar t opens: the previous close's decisions act now
            self.open_bar(t, ts)
            if loop.book is not None and t > (seen := loop.record_bar[-1]):  # the idle bars since the last visit
                loop.observe(self.value(seen, t, since_last=True)[0], bars.ts_ms[seen:t])
            stopped = False
            if realism.vectorbt_stops and venue.open:
                filled, protective = len(loop.fills), set(loop.oco)
                self.work(t)  # vectorbt's order: resting stops on this bar before the decision, which a stop replaces
                stopped = any(fill.order_id in protective for fill in loop.fills[filled:])
            while k < len(decisions) and decisions[k].t == t:  # decided before this bar opened: acted on at its open
                if not stopped:
                    self.send(loop.on_decision(decisions[k]))
                k += 1
            if venue.open:
                self.work(t)
            clock.wait_until(ts + bar_ms)
            if bar_by_bar:
                venue.learn(self.model.candle(t))
            loop.on_close(t, ts, t + 1 - done)  # bar t and the idle stretch before it
            done = self.done = t + 1
        if last == n and n > done:
            clock.wait_until(int(bars.ts_ms[n - 1]) + bar_ms)
            loop.emit(_new_tuple(BarClosed, (int(bars.ts_ms[n - 1]), n - done)))
            done = n
        return done

    def snapshot(self, done: int) -> dict:
        """Where the replay stands after `done` bars: the loop's and the venue's state, JSON-able."""
        return {"done": done, "loop": self.loop.snapshot(), "venue": self.venue.snapshot()}

    def restore(self, state: dict) -> None:
        self.loop = Loop.restore(self.config, state["loop"], self.loop.hook)
        self.venue.restore(state["venue"])
        self.done = state["done"]

    def next_bar(self, done: int) -> int:
        """The first bar from `done` on where an open order of the venue's can trade: a market order from the
        bar it is live, a resting one from the first bar the scan finds it triggers on."""
        bars = len(self.bars)
        for order in self.venue.open:
            start = max(done, order.live_from_bar)
            if order.type is not OrderType.MARKET:
                wake = self.wake.get(order.client_id, -1)
                if wake < start:
                    wake = self.wake[order.client_id] = self.model.first_trigger(order, start)
                start = wake
            bars = min(bars, start)
        return bars


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
           clock: Clock | None = None, scope: str = "replay", bar_by_bar: bool = False,
           resume: dict | None = None, stop_after: int | None = None) -> ReplayResult:
    """Walk `signals` (decided at each bar's close) through the event loop; `risk=None` checks nothing and
    sizes all-in, as the sweep does. The loop waits on `clock` for each bar it visits to open and to close:
    the bars' own times by default (no waiting), or an accelerated clock to rehearse a deployment's pacing.
    `scope` names whose orders these are (a run, a deployment): it is part of every client order id.
    `bar_by_bar` visits every bar and offers every live order every bar, with no look at bars to come, as
    paper and live trading must: it gives the same orders, fills and equity, which is what proves the
    shortcuts of the default driver (skipping idle bars, scheduling resting orders) change nothing.
    `stop_after=t` stops once bar t has passed and returns the books' snapshot (`ReplayResult.snapshot`);
    `resume=snapshot` continues from one, ending exactly where the uninterrupted replay ends."""
    if len(signals) != len(bars):
        raise ValueError(f"signals have {len(signals)} rows for {len(bars)} bars")
    clock = clock if clock is not None else HistoricalClock(int(bars.ts_ms[0]) if len(bars) else 0)
    n = len(bars)
    bar_ms = int(np.diff(bars.ts_ms).min()) if n > 1 else 0  # a gap in the data is not a longer bar
    run = Replay(bars, LoopConfig(costs, realism, rules, risk, scope, bar_ms), on_event, venue_sums_closes=bar_by_bar)
    if resume is not None:
        run.restore(resume)
    with _no_gc_pauses():
        done = run.drive(_decisions(bars, signals, realism, risk), clock, bar_by_bar, stop_after)
    if done < n:
        equity, position = run.value(0, done)
        return ReplayResult(bars, run.loop.orders, run.loop.fills, run.loop.ledger, equity, position,
                            run.loop.events, run.snapshot(done))
    _settle_end(run, n, bar_ms)
    equity, position = run.value(0, n)
    return ReplayResult(bars, run.loop.orders, run.loop.fills, run.loop.ledger, equity, position, run.loop.events)


def _decisions(bars: Bars, signals: Signals, realism: Realism, risk: RiskConfig | None) -> list[Decision]:
    """Every decision as plain Python values, once, in the order they act."""
    n, lag = len(bars), realism.latency_bars
    effective = at_next_open(signals)
    never = np.zeros(n, dtype=bool)
    entries, exits = effective.entries, effective.exits
    short_entries = effective.short_entries if effective.short_entries is not None else never
    short_exits = effective.short_exits if effective.short_exits is not None else never
    due = np.flatnonzero(entries | exits | short_entries | short_exits)
    due = due[due + lag < n]
    sl = effective.sl_stop[due] if effective.sl_stop is not None else np.full(len(due), np.nan)
    tp = effective.tp_stop[due] if effective.tp_stop is not None else np.full(len(due), np.nan)
    size = np.nan_to_num(effective.size[due], nan=1.0) if effective.size is not None else np.ones(len(due))
    decided = due - 1
    atr = np.zeros(len(due))
    if risk is not None and risk.sizing.method == "atr":  # from the trailing window at each decision, as live
        atr = np.array([sizing_atr(bars.high[max(0, d + 1 - SIZING_ATR_HISTORY):d + 1],
                                   bars.low[max(0, d + 1 - SIZING_ATR_HISTORY):d + 1],
                                   bars.close[max(0, d + 1 - SIZING_ATR_HISTORY):d + 1]) for d in decided.tolist()])
    acts = due + lag
    return [_new_tuple(Decision, row) for row in zip(
        acts.tolist(), bars.ts_ms[acts].tolist(), decided.tolist(), bars.ts_ms[decided].tolist(),
        zip(entries[due].tolist(), exits[due].tolist(), short_entries[due].tolist(), short_exits[due].tolist()),
        size.tolist(), zip(sl.tolist(), tp.tolist()), bars.close[decided].tolist(), atr.tolist())]


def last_decision(bars: Bars, signals: Signals, t: int, realism: Realism, risk: RiskConfig | None) -> Decision | None:
    """The decision the last row of `signals` (on `bars`, a trailing window ending at the bar the driver numbers
    `t`) takes at that bar's close, as `_decisions` makes it from the same row: acting at the open of bar
    t + 1 + latency (paper and live learn that bar's open time when it comes: `ts_ms` is 0 until then), priced at
    the close it was decided at, with the window's trailing ATR for ATR sizing. None: the row says nothing."""
    c = len(bars) - 1
    if c < 0:
        return None
    row = (bool(signals.entries[c]), bool(signals.exits[c]),
           bool(signals.short_entries[c]) if signals.short_entries is not None else False,
           bool(signals.short_exits[c]) if signals.short_exits is not None else False)
    if not any(row):
        return None
    size = float(np.nan_to_num(signals.size[c], nan=1.0)) if signals.size is not None else 1.0
    sl = float(signals.sl_stop[c]) if signals.sl_stop is not None else float("nan")
    tp = float(signals.tp_stop[c]) if signals.tp_stop is not None else float("nan")
    atr = 0.0
    if risk is not None and risk.sizing.method == "atr":  # the window's tail: what `_decisions` reads too
        atr = sizing_atr(bars.high, bars.low, bars.close)
    return Decision(t + 1 + realism.latency_bars, 0, t, int(bars.ts_ms[c]), row, size, (sl, tp), float(bars.close[c]), atr)


_new_tuple = tuple.__new__


def _settle_end(run: Replay, n: int, bar_ms: int) -> None:
    """The books at the close of the last bar: a short's interest up to then."""
    if n:
        run.open_bar(n, int(run.bars.ts_ms[n - 1]) + bar_ms)
