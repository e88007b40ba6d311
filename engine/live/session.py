"""One deployment's loop, venue and journal, driven one closed candle at a time.

Per candle the session drives the loop exactly as replay's bar-by-bar driver drives one bar
(`engine.replay.Replay.drive`): the bar opens (a short's interest is settled, the risk book learns the last
close's value), the decisions taken at earlier closes act, the venue matches its open orders against the
candle, the venue learns the candle, the bar closes. Then the strategy decides on the trailing warm-up window
ending at that candle, and its last row becomes the `Decision` that acts at the next bar's open (+ latency).
Bars are numbered by the candles the session has handled (`t`), as replay numbers the bars it is given, so
paper trading over the candles replay sees gives replay's events, orders, fills and equity. A live session
opens each bar at the close before it (`opens_early`), so what a close decided leaves at once, not when the
next candle has closed.

Journal first: an order's intent is journaled (and synced) before its request leaves; a client id whose intent
a previous process journaled without an answer is looked up at the venue before anything is sent, so it is
never sent twice. The candle's events, the equity mark at its close and the heartbeat go in one transaction,
and every `snapshot_every` candles (every candle for a venue whose books are not ours) a snapshot of the loop
and the venue goes in with them. Entries the runner keeps from the venue (kill switch, stale data, portfolio
limits) are refused in front of it: a `RiskChecked` naming the rule, then the order's rejection.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import structlog

from engine.core.commands import CancelOrder, Command, SubmitOrder
from engine.core.events import Event, OrderRejected, RiskChecked
from engine.core.loop import Decision, Loop, LoopConfig
from engine.core.matching import Candle
from engine.core.orders import Order
from engine.live.journal import EquityMark, FillRecord, Heartbeat, Journal, OrderRecord
from engine.live.recovery import (KILL_PREFIX, JournaledInputs, JournaledTick, RecoveryError, Refusal, from_json,
                                  to_json)
from engine.live.window import Marks, Window
from engine.replay import last_decision
from engine.strategy.contract import Strategy
from engine.strategy.trailing import SIZING_ATR_HISTORY
from engine.venues.protocol import AsyncVenue

__all__ = ["Gate", "Session", "SessionPlan", "SessionVenue", "TickInputs"]

log = structlog.get_logger("gauntlet.session")
STATE_VERSION = 1


class SessionVenue(AsyncVenue, Protocol):
    """What a session needs of a venue: the `AsyncVenue` protocol, plus what a candle brings. Paper's is
    `engine.live.paper.PaperVenue`; a live venue's `process` reports what happened to our orders since it was
    last asked, its `settle` and `learn` do nothing, and its books are the exchange's (`holds_books` False)."""

    holds_books: bool

    @property
    def has_open(self) -> bool: ...

    def settle(self, ts_ms: int) -> list[Event]: ...

    def process(self, t: int, candle: Candle) -> AsyncIterator[Event]: ...

    def learn(self, candle: Candle) -> None: ...

    def snapshot(self) -> dict: ...

    def restore(self, state: dict) -> None: ...

    async def adopt(self, client_id: str, ts_ms: int) -> list[Event] | None:
        """The venue's word on an order a previous process may have sent, as the events it would have
        answered; None when the venue proves it has none (then it is sent)."""

    async def recover(self, orders: Iterable[OrderRecord], booked: Iterable[FillRecord],
                      books: Collection[str]) -> list[Event]:
        """At start-up: follow the journaled orders that have not ended; the events that bring those the books
        hold open (`books`) to the venue's truth."""

    def unresolved(self) -> set[str]:
        """Client ids sent whose fate the venue has not told yet."""

    async def resolve(self) -> list[Event]:
        """Look up every order whose fate is unknown (before stopping): the events of what is found."""


class Gate(Protocol):
    """Limits across the deployments of a process (`engine.live.portfolio.Portfolio`): a refusal, or None."""

    def refusal(self, name: str, order: Order, ts_ms: int, last_px: float) -> Refusal | None: ...


@dataclass(frozen=True, slots=True)
class TickInputs:
    """What a candle brings from outside the deployment: whether it came on time, the kill switch's reason when
    it is latched, the portfolio's gate (None: no limits across deployments), and whether the latched switch
    asks for the position to be closed (`gauntlet stop --flatten`)."""

    fresh: bool = True
    kill: str | None = None
    gate: Gate | JournaledInputs | None = None
    flatten: bool = False


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What a session trades: the deployment's name (the scope of its client ids), strategy and parameters,
    the loop's configuration, and how often a snapshot is kept (in candles)."""

    name: str
    strategy: Strategy
    params: Any
    config: LoopConfig
    snapshot_every: int = 100
    record: dict[str, Any] | None = None  # the deployment (label, exchange, spec as JSON), kept in snapshots

    @property
    def warmup(self) -> int:
        """The closed candles a decision needs: the strategy's warm-up, and at least those the sizing ATR reads."""
        return max(int(self.params.warmup), SIZING_ATR_HISTORY)


class Session:
    """A deployment's trading, candle by candle (see the module's docstring)."""

    def __init__(self, plan: SessionPlan, venue: SessionVenue, journal: Journal,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.plan, self.venue, self.journal, self.wall_ms = plan, venue, journal, wall_ms
        self.loop = Loop(plan.config, self._heard)
        self.window = Window(plan.warmup)
        self.marks = Marks()
        self.buffer: list[Event] = []
        self.t, self.last_ms, self.last_close = 0, None, 0.0
        self.pending: list[Decision] = []
        self.seq, self.snapshot_seq = 0, 0
        self.started_ms = wall_ms()
        self.baseline: dict[str, float] = {}  # a live venue's balances when the deployment started (reconciliation)
        self.inputs = TickInputs()
        self.replaying: JournaledTick | None = None
        self.log = log.bind(deployment=plan.name, strategy=plan.strategy.name)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def opens_early(self) -> bool:
        """Whether a bar opens at the close before it (live: orders leave when decided) rather than when its
        candle is handed over (paper, as replay)."""
        return not self.venue.holds_books

    @property
    def snapshot_every(self) -> int:
        return self.plan.snapshot_every if self.venue.holds_books else 1

    def _heard(self, event: Event) -> None:
        self.buffer.append(event)

    # -- one candle -------------------------------------------------------------------------------------------

    async def on_candle(self, candle: Candle, inputs: TickInputs = TickInputs()) -> None:
        """Candle `t` closed: drive the bar, decide on it, journal it. A candle at or before the last one
        handled is ignored (a second feed answer, or recovery's overlap)."""
        if self.last_ms is not None and candle.ts_ms <= self.last_ms:
            return
        self.inputs, self.buffer = inputs, []
        t, ts = self.t, candle.ts_ms
        if not self.opens_early or self.last_ms is None:  # else this bar opened at the last close
            await self._begin(t, ts, candle)
        if self.venue.has_open:
            await self._work(t, candle)
        self.venue.learn(candle)
        self.loop.on_close(t, ts, 1)
        self._closed(t, candle)
        self._decide(t)
        if self.opens_early:  # the next bar opens at this close, and its orders leave now
            await self._begin(t + 1, ts + self.plan.config.bar_ms, None)
        self._journal(candle)

    async def _begin(self, t: int, ts: int, candle: Candle | None) -> None:
        """Bar t opens: the kill switch acts, then the decisions due at this open. Paper opens a bar when its
        candle is handed over, as replay does; a live session opens it at the close before (`candle` None), so
        an order decided at a close leaves at once rather than when the next candle has closed, a bar late."""
        inputs = self.inputs
        self._open(t, ts)
        if inputs.kill is not None and self.loop.open:
            await self._send([CancelOrder(ts, o.client_id, KILL_PREFIX + inputs.kill) for o in list(self.loop.open)])
        if inputs.kill is not None and inputs.flatten:  # then the position goes, once (nothing more when flat)
            await self._send(self.loop.flatten(self.last_close, inputs.kill))
        stopped = False
        if candle is not None and self.plan.config.realism.vectorbt_stops and self.venue.has_open:
            filled, protective = len(self.loop.fills), set(self.loop.oco)
            await self._work(t, candle)  # replay's order under vectorbt's conventions: resting stops first
            stopped = any(fill.order_id in protective for fill in self.loop.fills[filled:])
        for decision in self._due(t):
            if not stopped:
                await self._send(self.loop.on_decision(decision._replace(ts_ms=ts)))

    def _open(self, t: int, ts: int) -> None:
        loop = self.loop
        loop.on_open(t, ts)
        if loop.borrows:
            for event in self.venue.settle(ts):
                loop.on_event(event)
        if loop.book is not None and self.last_ms is not None and t > loop.record_bar[-1]:
            equity = self.marks.value(loop, t - 1, self.last_close)  # the last close's value, as replay observes it
            loop.observe(np.array([equity]), np.array([self.last_ms], dtype=np.int64))

    def _due(self, t: int) -> list[Decision]:
        due = [d for d in self.pending if d.t <= t]
        self.pending = [d for d in self.pending if d.t > t]
        return due

    async def _work(self, t: int, candle: Candle) -> None:
        async for event in self.venue.process(t, candle):
            more = self.loop.on_event(event)
            if more:
                await self._send(more)

    def _closed(self, t: int, candle: Candle) -> None:
        self.marks.closed(t, candle.close, self.loop)
        self.window.push(candle)
        self.loop.forget()  # its history is journaled: memory and snapshots stay the size of what is live
        self.t, self.last_ms, self.last_close = t + 1, candle.ts_ms, candle.close

    def _decide(self, t: int) -> None:
        """The strategy on the trailing warm-up window ending at this candle; its last row acts next."""
        if len(self.window) < self.plan.warmup:
            self.log.info("session.warming_up", have=len(self.window), need=self.plan.warmup)
            return
        bars = self.window.bars()
        signals = self.plan.strategy.signals(bars, self.plan.params)
        decision = last_decision(bars, signals, t, self.plan.config.realism, self.plan.config.risk)
        if decision is not None:
            self.pending.append(decision)

    # -- commands, journal first ------------------------------------------------------------------------------

    async def _send(self, commands: list[Command]) -> None:
        """Each command to the venue, each answer back to the loop, until nothing more is asked (replay's `send`)."""
        for command in commands:
            if type(command) is SubmitOrder:
                answers = await self._submit(command)
            else:
                answers = await self.venue.cancel(command)
            for event in answers:
                more = self.loop.on_event(event)
                if more:
                    await self._send(more)

    async def _submit(self, command: SubmitOrder) -> list[Event]:
        order = command.order
        if self.replaying is None:
            known = self.journal.order(order.client_id)
            if known is not None and not known.unanswered:
                raise RecoveryError(f"{self.name}: order {order.client_id} is journaled as {known.status.value} but "
                                    "the books are about to send it: the journal and the books disagree")
            self.journal.record_intent(self.name, order, command.ts_ms)  # on disk before the request leaves
            if known is not None:  # a previous process sent it, maybe: ask, never resend, never refuse it blind
                adopted = await self.venue.adopt(order.client_id, command.ts_ms)
                if adopted is not None:
                    self.log.warning("session.adopted", client_id=order.client_id,
                                     events=[type(e).__name__ for e in adopted])
                    return adopted
        refusal = None if order.reduce_only else self._refusal(order, command)
        if refusal is not None:
            self.loop.emit(refusal.checked)
            self.log.warning("session.refused", client_id=order.client_id, rule=refusal.checked.rule,
                             reason=refusal.reason)
            return [OrderRejected(command.ts_ms, order.client_id, refusal.reason)]
        self.log.info("session.submit", client_id=order.client_id, side=order.side, type=order.type.value,
                      qty=order.qty, quote_qty=order.quote_qty)
        return await self.venue.submit(command)

    def _refusal(self, order: Order, command: SubmitOrder) -> Refusal | None:
        """Why the runner keeps this entry from the venue: kill switch, stale candles, the portfolio's limits."""
        inputs, ts = self.inputs, command.ts_ms
        wanted = order.quote_qty if order.quote_qty is not None else order.qty * command.last_px
        equity = self.loop.ledger.equity(command.last_px)
        if inputs.kill is not None:
            return Refusal(RiskChecked(ts, equity, wanted, 0.0, "kill_switch"), f"kill switch latched: {inputs.kill}")
        if not inputs.fresh:
            return Refusal(RiskChecked(ts, equity, wanted, 0.0, "stale_data"),
                           "stale data: the candle came late; no new entries until candles come on time")
        if inputs.gate is not None:
            return inputs.gate.refusal(order) if isinstance(inputs.gate, JournaledInputs) else \
                inputs.gate.refusal(self.name, order, ts, command.last_px)
        return None

    def _journal(self, candle: Candle) -> None:
        """The candle's events, mark and heartbeat in one transaction (re-driving: compared, not written)."""
        ts, loop = candle.ts_ms, self.loop
        if self.replaying is not None:
            if tuple(self.buffer) != self.replaying.events:
                raise RecoveryError(_disagreement(self.name, ts, self.replaying.events, self.buffer))
            self.seq = self.replaying.seq
            return
        mark = EquityMark(ts, self.marks.value(loop, self.t - 1, candle.close), loop.ledger.cash, loop.ledger.qty)
        snapshot = self.state() if self.t % self.snapshot_every == 0 else None
        done = self.journal.record_tick(self.name, self.buffer, mark, self.heartbeat("running"), snapshot)
        if done.duplicates:
            self.log.error("session.duplicate_fills", trade_ids=[f.trade_id for f in done.duplicates])
        self.seq = done.seqs[-1] if done.seqs else self.seq
        if snapshot is not None:
            self.snapshot_seq = self.seq

    async def stop(self) -> None:
        """Before the process exits: no order left unknown that can be resolved (a live venue looks each up), the
        books snapshotted, the heartbeat `stopped`; what stays unknown (the exchange never answered) is named."""
        if not self.venue.holds_books:
            events = await self.venue.resolve()
            if events:
                await self.take(events, self.last_ms or 0)
            if unknown := sorted(self.venue.unresolved()):
                self.log.error("session.unknown_at_stop", client_ids=unknown,
                               action="looked up by client id at the next start, never resent blind")
        self.save_snapshot(self.last_ms or 0)
        self.journal.beat(self.name, self.heartbeat("stopped", "asked to stop"))
        self.log.info("runner.stopped", last_candle_ms=self.last_ms, seq=self.seq)

    async def take(self, events: list[Event], ts_ms: int) -> None:
        """Events from outside a candle (start-up's recovery): folded into the loop, what they ask for sent,
        all journaled, then a snapshot, so the journal never ends with events no snapshot or bar close covers."""
        self.buffer = []
        for event in events:
            more = self.loop.on_event(event)
            if more:
                await self._send(more)
        done = self.journal.append(self.name, self.buffer)
        self.seq = done.seqs[-1] if done.seqs else self.seq
        self.save_snapshot(ts_ms)

    def heartbeat(self, state: str, detail: str = "") -> Heartbeat:
        return Heartbeat(state, self.started_ms, self.wall_ms(), self.last_ms, os.getpid(), detail)

    # -- snapshots --------------------------------------------------------------------------------------------

    def save_snapshot(self, ts_ms: int) -> None:
        if self.seq > self.snapshot_seq:
            self.journal.save_snapshot(self.name, self.seq, self.state(), ts_ms)
            self.snapshot_seq = self.seq

    def state(self) -> dict[str, Any]:
        """The session between two candles, as JSON: loop, venue (when its books are ours), bar count, the
        last candle, the decisions waiting for their bar, the sums of closes the books may still read."""
        return to_json({"version": STATE_VERSION, "loop": self.loop.snapshot(),
                        "venue": self.venue.snapshot() if self.venue.holds_books else None,
                        "t": self.t, "last_ms": self.last_ms, "last_close": self.last_close,
                        "pending": [list(d) for d in self.pending], "marks": self.marks.state(),
                        "init_cash": self.plan.config.costs.init_cash, "baseline": self.baseline,
                        "deployment": self.plan.record})

    def restore(self, state: dict[str, Any]) -> None:
        state = from_json(state)
        if state.get("version") != STATE_VERSION:
            raise RecoveryError(f"{self.name}: a snapshot of version {state.get('version')}, this gauntlet reads "
                                f"{STATE_VERSION}")
        self.loop = Loop.restore(self.plan.config, state["loop"], self._heard)
        if self.venue.holds_books:
            self.venue.restore(state["venue"])
        self.t, self.last_ms, self.last_close = state["t"], state["last_ms"], state["last_close"]
        self.pending = [Decision(d[0], d[1], d[2], d[3], tuple(d[4]), d[5], tuple(d[6]), d[7], d[8])
                        for d in state["pending"]]
        self.marks = Marks.from_state(state["marks"])
        self.baseline = dict(state["baseline"])

    async def redrive(self, tick: JournaledTick, candle: Candle) -> None:
        """Handle a journaled candle again from a snapshot before it, checking it gives the journaled events."""
        inputs = JournaledInputs.of(tick)
        self.replaying = tick
        try:
            await self.on_candle(candle, TickInputs(True, inputs.kill, inputs, inputs.flatten))
        finally:
            self.replaying = None


def _disagreement(name: str, ts_ms: int, journaled: tuple[Event, ...], now: list[Event]) -> str:
    first = next((i for i, (a, b) in enumerate(zip(journaled, now)) if a != b), min(len(journaled), len(now)))
    return (f"{name}: handling the candle {ts_ms} again does not give the journaled events (first difference at "
            f"event {first}: journaled {journaled[first] if first < len(journaled) else 'nothing'}, now "
            f"{now[first] if first < len(now) else 'nothing'}); halted rather than trade on books it cannot trust")
