"""One deployment's session, fed real BTC/USDT 1h candles directly: it drives the loop as replay's bar-by-bar
driver does (stops, shorts, borrow interest and latency included), journals every intent before its request
leaves, refuses entries on stale candles and while the kill switch is latched (exits still go), and a crash
between an order's request and its candle's journal entry leaves no order sent twice."""

from __future__ import annotations

import asyncio

from engine.live.journal import Journal
from engine.live.paper import PaperVenue
from engine.live.runner import session_plan
from engine.live.session import TickInputs
from engine.live.startup import restore_session, resume_session
from engine.replay import replay
from engine.spec import RealismSpec, RiskSpec
from engine.strategy import load_strategy
from tests.engine.live.rehearsal import (BARS, FIRST, KEY, RULES, CrashingJournal, a_session, cached_candles, candle,
                                         decided, drive, paper_deployment)


def test_a_session_gives_replays_events_with_stops_shorts_interest_and_latency(tmp_path):
    realism = RealismSpec(latency_bars=1, borrow_rate=0.2)
    risk = RiskSpec(limits={"max_drawdown_rate": 0.3}, sizing={"method": "fixed_fraction", "fraction": 0.5})
    params = {"window": 20, "atr_window": 5, "atr_mult": 2.0, "short": True}
    session = a_session(tmp_path, "atr", "atr_trend", params, realism=realism, risk=risk)
    drive(session, FIRST, FIRST + 500)
    journaled = [e.event for e in session.journal.events_after("atr")]
    strategy = load_strategy("atr_trend")
    full = strategy.signals(BARS[:FIRST + 500], strategy.params(params))
    signals = type(full)(**{k: v[FIRST:] for k, v in full.columns.items()})
    spec = session_plan(paper_deployment(tmp_path / "d2", "atr", "atr_trend", params, realism=realism, risk=risk),
                        KEY, RULES).config
    replayed = replay(BARS[FIRST:FIRST + 500], signals, spec.costs, spec.realism, RULES, spec.risk, scope="atr",
                      bar_by_bar=True)
    kinds = {e.kind for e in journaled}
    assert {"interest_charged", "order_cancelled", "risk_checked"} <= kinds  # shorts paid interest, stops cancelled
    assert journaled == replayed.events
    marks = session.journal.equity("atr")
    assert [m.equity for m in marks] == replayed.equity.tolist()
    assert len(replayed.fills) == len(session.journal.fills_since("atr")) > 30


def test_a_session_gives_replays_events_under_vectorbts_stop_conventions(tmp_path):
    """RealismSpec.ideal(): resting stops are matched first, then the orders the decisions send at the open, on
    the same candle, as replay does (the paper venue once refused to match the candle in hand a second time)."""
    params = {"window": 20, "atr_window": 5, "atr_mult": 2.0}
    session = a_session(tmp_path, "vbt", "atr_trend", params, realism=RealismSpec.ideal())
    drive(session, FIRST, FIRST + 500)
    strategy = load_strategy("atr_trend")
    full = strategy.signals(BARS[:FIRST + 500], strategy.params(params))
    signals = type(full)(**{k: v[FIRST:] for k, v in full.columns.items()})
    spec = session_plan(paper_deployment(tmp_path / "d2", "vbt", "atr_trend", params, realism=RealismSpec.ideal()),
                        KEY, RULES).config
    assert spec.realism.vectorbt_stops
    replayed = replay(BARS[FIRST:FIRST + 500], signals, spec.costs, spec.realism, RULES, spec.risk, scope="vbt",
                      bar_by_bar=True)
    assert [e.event for e in session.journal.events_after("vbt")] == replayed.events
    assert len(replayed.fills) == len(session.journal.fills_since("vbt")) > 30


class SpyVenue(PaperVenue):
    """The paper venue, noting at each request what the journal held: the seam the journal-first rule is seen at."""

    journal: Journal
    seen: list[tuple[str, str | None, int]] = []

    async def submit(self, command):  # noqa: ANN001, ANN201 - the protocol's
        row = self.journal.order(command.order.client_id)
        self.seen.append((command.order.client_id, None if row is None else row.status.value,
                          self.journal.last_seq("spy")))
        return await super().submit(command)


def test_every_intent_is_on_disk_before_its_request_leaves(tmp_path):
    journal = Journal.open(tmp_path / "spy.sqlite")
    SpyVenue.journal, SpyVenue.seen = journal, []
    session = a_session(tmp_path, "spy", journal=journal, venue_type=SpyVenue)
    drive(session, FIRST, FIRST + 200)
    assert len(SpyVenue.seen) == len(journal.orders("spy")) > 10
    assert all(status == "submitted" for _, status, _ in SpyVenue.seen)  # journaled as sent, before the answer
    submitted = {e.event.client_id: e.seq for e in journal.events_of("spy", ["order_submitted"])}
    assert all(submitted[cid] > last_seq for cid, _, last_seq in SpyVenue.seen)  # the candle's events come after


def test_no_entry_on_a_stale_candle_and_exits_still_go(tmp_path):
    params = {"fast": 5, "slow": 20}
    first, second = decided("entries", FIRST, FIRST + 200, params)[:2]
    exit_ = next(i for i in decided("exits", second, FIRST + 200, params) if i > second)
    session = a_session(tmp_path, "stale")
    stale = TickInputs(fresh=False)
    drive(session, FIRST, exit_ + 3, {first + 1: stale, exit_ + 1: stale})  # each decision acts at the next open
    journal = session.journal
    events = [e.event for e in journal.events_after("stale")]
    refused = [(i, e) for i, e in enumerate(events) if e.kind == "risk_checked" and e.rule == "stale_data"]
    assert len(refused) == 1 and refused[0][1].allowed_quote == 0.0 and refused[0][1].ts_ms == candle(first + 1).ts_ms
    rejection = events[refused[0][0] + 1]
    assert rejection.kind == "order_rejected" and rejection.reason.startswith("stale data")
    assert journal.order(rejection.client_id).status.value == "rejected"
    orders = journal.orders("stale")
    entered = [o for o in orders if not o.reduce_only and o.status.value == "filled"]
    exited = [o for o in orders if o.reduce_only and o.status.value == "filled"]
    assert [o.intent_ms for o in entered] == [candle(second + 1).ts_ms]  # the next fresh entry went through
    assert [o.intent_ms for o in exited] == [candle(exit_ + 1).ts_ms]  # and its exit, on a stale candle


def test_the_kill_switch_cancels_resting_orders_and_refuses_entries_but_not_exits(tmp_path):
    params = {"window": 20, "atr_window": 5, "atr_mult": 3.0}
    session = a_session(tmp_path, "kill", "atr_trend", params)
    lo = FIRST
    while not session.loop.open:  # trade until a stop-loss rests under a position
        drive(session, lo, lo + 1)
        lo += 1
    stop = session.loop.open[0]
    kill = TickInputs(kill="exchange incident")
    drive(session, lo, lo + 150, {i: kill for i in range(lo, lo + 150)})
    journal = session.journal
    assert journal.order(stop.client_id).status.value == "cancelled"
    assert journal.order(stop.client_id).reason == "kill switch: exchange incident"
    after = [o for o in journal.orders("kill") if o.intent_ms >= candle(lo).ts_ms]
    refused = [e.event for e in journal.events_of("kill", ["risk_checked"]) if e.event.rule == "kill_switch"]
    assert refused and all(o.status.value == "rejected" for o in after if not o.reduce_only)
    assert any(o.reduce_only and o.status.value == "filled" for o in after)  # the strategy's exit still closed it
    assert session.loop.ledger.qty == 0 and not session.loop.open


def test_a_crash_between_the_request_and_the_candles_journal_sends_nothing_twice(tmp_path):
    first = decided("entries", FIRST, FIRST + 200, {"fast": 5, "slow": 20})[0]
    path = tmp_path / "crash.sqlite"
    CrashingJournal.at = candle(first + 1).ts_ms  # the entry goes out at this candle's open
    session = a_session(tmp_path, "crash", journal=CrashingJournal.open(path))
    try:
        drive(session, FIRST, FIRST + 200)
    except SystemExit:
        pass
    session.journal.close()
    unanswered = [o for o in Journal.open(path).orders("crash", open_only=True)]
    assert [o.unanswered for o in unanswered] == [True]  # the intent is there, its answer is not
    again = a_session(tmp_path, "crash", journal=Journal.open(path))
    again.window.fill(BARS[:FIRST])
    asyncio.run(resume_session(again, cached_candles(tmp_path / "cache"), restore_session(again)))
    drive(again, again.t + FIRST, FIRST + 200)
    whole = a_session(tmp_path / "whole", "crash")
    drive(whole, FIRST, FIRST + 200)
    ours = [e.event for e in again.journal.events_after("crash")]
    assert ours == [e.event for e in whole.journal.events_after("crash")]
    assert len([e for e in ours if e.kind == "order_submitted" and e.client_id == unanswered[0].client_id]) == 1
