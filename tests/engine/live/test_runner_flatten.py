"""`gauntlet stop NAME --flatten`, in a session fed real BTC/USDT 1h candles directly: at the next candle the open
orders are cancelled and the position is closed by one reduce-only market order, journaled (intent first) like
every order; nothing more is sent once flat, entries are refused until the switch is reset, and then the strategy
trades again. A crash while it flattens, or after, restarts to the journal of an uninterrupted run: the flatten
is decided again from the journaled events, never sent twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from engine.core.ids import parse_client_id
from engine.live.journal import Journal
from engine.live.session import Session, TickInputs
from engine.live.startup import restore_session, resume_session
from tests.engine.live.rehearsal import FIRST, CrashingJournal, a_session, cached_candles, candle, drive

PARAMS = {"window": 20, "atr_window": 5, "atr_mult": 3.0}  # long entries with a resting stop-loss
FLATTEN = TickInputs(kill="exchange incident", flatten=True)
LATCHED = 100  # candles the switch stays latched


def _holding(session: Session, lo: int, where: Callable[[int], bool] = lambda at: True) -> int:
    """Trade from candle `lo` until the books hold a position with its stop resting, and the next candle's index
    is one `where` accepts; that index."""
    while not (session.loop.ledger.qty and session.loop.open and where(lo)):
        drive(session, lo, lo + 1)
        lo += 1
    return lo


def _flattens(journal: Journal, name: str) -> list:
    return [o for o in journal.orders(name) if parse_client_id(o.client_id).role == "flatten"]


def test_the_position_is_closed_at_the_next_candle_once_entries_wait_for_resume(tmp_path):
    session = a_session(tmp_path, "flat", "atr_trend", PARAMS)
    at = _holding(session, FIRST)
    held, stop = session.loop.ledger.qty, session.loop.open[0]
    drive(session, at, at + LATCHED, {i: FLATTEN for i in range(at, at + LATCHED)})
    journal, ts = session.journal, candle(at).ts_ms
    tick = [e.event for e in journal.events_after("flat") if e.event.ts_ms == ts]
    kinds = [e.kind for e in tick]
    assert kinds[:3] == ["order_cancelled", "flatten_ordered", "order_submitted"]  # the stop first, then the close
    assert (tick[0].client_id, tick[0].reason) == (stop.client_id, "kill switch: exchange incident")
    ordered = tick[1]
    assert (ordered.qty, ordered.reason, ordered.client_id) == (held, "exchange incident", tick[2].client_id)
    fill = next(e for e in tick if e.kind == "order_filled")
    assert fill.client_id == ordered.client_id and fill.qty == pytest.approx(held) and fill.done
    assert journal.equity("flat")[-LATCHED].position == 0.0 and journal.equity("flat")[-LATCHED].ts_ms == ts
    [order] = _flattens(journal, "flat")  # once: nothing more at the 99 candles after, though still latched
    assert (order.status.value, order.reduce_only, order.type.value, order.side) == ("filled", True, "market", -1)
    after = [o for o in journal.orders("flat") if o.intent_ms > ts]
    refused = [e.event for e in journal.events_of("flat", ["risk_checked"]) if e.event.rule == "kill_switch"]
    assert refused and after and all(o.status.value == "rejected" and not o.reduce_only for o in after)
    assert session.loop.ledger.qty == 0 and not session.loop.open
    drive(session, at + LATCHED, at + LATCHED + 150)  # resumed
    entered = [o for o in journal.orders("flat") if o.intent_ms > candle(at + LATCHED - 1).ts_ms
               and not o.reduce_only and o.status.value == "filled"]
    assert entered and len(_flattens(journal, "flat")) == 1


@pytest.mark.parametrize("crash_after", [0, 7], ids=["while-flattening", "after-flattening"])
def test_a_crash_while_flattening_or_after_restarts_to_the_journal_of_an_uninterrupted_run(tmp_path, crash_after):
    """0: killed in the flatten candle's transaction (its intent on disk, its events not); 7: killed seven candles
    later, so restarting re-drives the flatten candle from the snapshot before it and must decide it again."""
    probe = a_session(tmp_path / "probe", "crash", "atr_trend", PARAMS)
    at = _holding(probe, FIRST, lambda at: (at + 1 - FIRST) % 25 > 8)  # no snapshot from the flatten to the crash
    end, latched = at + 60, {i: FLATTEN for i in range(at, at + 60)}
    whole = a_session(tmp_path / "whole", "crash", "atr_trend", PARAMS)
    drive(whole, FIRST, end, latched)
    path = tmp_path / "crash.sqlite"
    CrashingJournal.at = candle(at + crash_after).ts_ms
    session = a_session(tmp_path, "crash", "atr_trend", PARAMS, journal=CrashingJournal.open(path))
    with pytest.raises(SystemExit):
        drive(session, FIRST, end, latched)
    session.journal.close()
    again = a_session(tmp_path, "crash", "atr_trend", PARAMS, journal=Journal.open(path))
    redriven = asyncio.run(resume_session(again, cached_candles(tmp_path / "cache"), restore_session(again)))
    assert redriven == (at + crash_after - FIRST) % 25 and again.t == at + crash_after - FIRST
    drive(again, FIRST + again.t, end, latched)  # the switch is still latched after the restart
    ours, theirs = again.journal, whole.journal
    assert [e.event for e in ours.events_after("crash")] == [e.event for e in theirs.events_after("crash")]
    assert ours.orders("crash") == theirs.orders("crash") and ours.equity("crash") == theirs.equity("crash")
    assert len(_flattens(ours, "crash")) == 1 and ours.equity("crash")[-1].position == 0.0
    assert [e.event.kind for e in ours.events_of("crash", ["flatten_ordered"])] == ["flatten_ordered"]
