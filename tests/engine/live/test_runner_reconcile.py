"""Reconciliation, for a venue whose books are not ours (live): the simulated venue behind the async protocol
plays the exchange, outliving the sessions that trade on it. What the journal and the loop believe is compared
with what the venue says; what can be explained is repaired (and journaled), what cannot halts the deployment
with an alert-level log."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from engine.core.commands import SubmitOrder
from engine.core.events import OrderFilled, OrderRejected
from engine.core.ids import client_order_id
from engine.core.ledger import Fill
from engine.core.orders import Order, OrderStatus, OrderType
from engine.live.journal import Journal
from engine.live.paper import PaperVenue
from engine.live.recovery import Books, RecoveryError, VenueView, reconcile
from engine.live.startup import reconcile_session, restore_session, resume_session
from tests.engine.live.rehearsal import FIRST, CrashingJournal, a_session, cached_candles, candle, decided, drive

TS = 1_700_000_000_000


def _order(cid: str, status: OrderStatus, venue_id: str = "", filled: float = 0.0) -> Order:
    order = Order(cid, "BTC/USDT", 1, 1.0)
    order.status, order.venue_order_id, order.filled_qty = status, venue_id, filled
    return order


def _books(open_orders: list[Order], filled: dict, position: float = 0.0, cash: float = 0.0, **kw) -> Books:
    return Books("dep", "BTC", "USDT", open_orders, filled, position, cash, {"USDT": 1000.0, "BTC": 0.0}, **kw)


def test_what_the_venue_did_while_the_books_were_away_is_repaired():
    a, b = client_order_id("dep", TS, "entry"), client_order_id("dep", TS + 1, "entry")
    at_venue = {a: _order(a, OrderStatus.FILLED, "v1", 1.0), b: None}
    trades = [Fill(a, 0, TS, 1, 0.4, 100.0, 0.04), Fill(a, 0, TS + 5, 1, 0.6, 101.0, 0.0606)]
    books = _books([_order(a, OrderStatus.ACCEPTED, "v1", 0.4), _order(b, OrderStatus.SUBMITTED)], {a: 0.4},
                   position=0.4, cash=-40.04)
    result = reconcile(books, VenueView(at_venue, [], trades, {"USDT": 1000.0 - 40.04 - 60.6606, "BTC": 1.0}), TS + 9)
    assert result.ok, result.mismatches
    assert result.repairs == (OrderFilled(TS + 5, a, 0.6, 101.0, 0.0606, "USDT", f"{a}:{TS + 5}:1", True),
                              OrderRejected(TS + 9, b, "never reached the venue (not found by client id at start-up)"))


def test_an_order_or_a_balance_the_books_cannot_explain_is_a_mismatch():
    mine, stranger = client_order_id("dep", TS, "entry"), client_order_id("someone-else", TS, "entry")
    unknown = client_order_id("dep", TS + 60_000, "exit")
    view = VenueView({mine: None}, [_order(unknown, OrderStatus.ACCEPTED, "v9"), _order(stranger, OrderStatus.ACCEPTED)],
                     [], {"USDT": 900.0, "BTC": 0.0})
    result = reconcile(_books([_order(mine, OrderStatus.ACCEPTED, "v1")], {}), view, TS)
    assert [(m.client_id, m.detail.split(";")[0]) for m in result.mismatches] == [
        (mine, "the journal has it accepted as venue order v1"),
        (unknown, "open at the venue, unknown to the journal"),
        (None, "USDT: the venue's balance moved -100 since the start, the books 0")]  # the stranger's is not ours


class Exchange(PaperVenue):
    """The simulated venue as an exchange: its books are its own, and it outlives a crashed session."""

    holds_books = False


def test_a_live_session_killed_after_its_request_adopts_the_order_at_restart_and_ends_as_if_never_killed(tmp_path):
    first = decided("entries", FIRST, FIRST + 150, {"fast": 5, "slow": 20})[0]
    path = tmp_path / "live.sqlite"
    CrashingJournal.at = candle(first).ts_ms  # a live session sends the entry at that close, then dies
    session = a_session(tmp_path, "live", journal=CrashingJournal.open(path), venue_type=Exchange)
    exchange = session.venue
    asyncio.run(reconcile_session(session, candle(FIRST).ts_ms))  # a first start: the account's balances noted
    with pytest.raises(SystemExit):
        drive(session, FIRST, FIRST + 150)
    session.journal.close()
    again = a_session(tmp_path, "live", journal=Journal.open(path), venue_type=Exchange)
    again.venue = exchange  # the same exchange: it holds the order the crashed process sent
    asyncio.run(resume_session(again, cached_candles(tmp_path / "cache"), restore_session(again)))
    with capture_logs() as logs:
        result = asyncio.run(reconcile_session(again, candle(first).ts_ms))
        assert result.ok and result.repairs == ()  # the order at the venue is the interrupted candle's: explained
        drive(again, FIRST + again.t, FIRST + 150)
    adopted = [line for line in logs if line["event"] == "session.adopted"]
    assert [(line["client_id"], line["events"]) for line in adopted] == [(client_order_id("live", candle(first).ts_ms,
                                                                                          "entry"), ["OrderAccepted"])]
    assert len(exchange.sim.orders) == len(again.journal.orders("live"))  # the exchange got every order once
    whole = a_session(tmp_path / "whole", "live")
    drive(whole, FIRST, FIRST + 150)
    fills = lambda s: [(f.client_id, f.ts_ms, f.qty, f.px, f.fee) for f in s.journal.fills_since("live")]  # noqa: E731
    assert fills(again) == fills(whole) and len(fills(whole)) > 5
    assert again.journal.equity("live")[-1] == whole.journal.equity("live")[-1]


def test_an_order_at_the_venue_the_journal_never_saw_halts_the_session(tmp_path):
    session = a_session(tmp_path, "halt", venue_type=Exchange)
    asyncio.run(reconcile_session(session, candle(FIRST).ts_ms))
    drive(session, FIRST, FIRST + 30)
    stray = Order(client_order_id("halt", candle(FIRST + 29).ts_ms, "manual"), "BTC/USDT", 1, 0.01, OrderType.LIMIT,
                  limit_px=1000.0)
    assert asyncio.run(session.venue.submit(SubmitOrder(0, stray, 40_000.0)))[0].kind == "order_accepted"
    with capture_logs() as logs, pytest.raises(RecoveryError, match="open at the venue, unknown to the journal"):
        asyncio.run(reconcile_session(session, candle(FIRST + 30).ts_ms))
    assert [line["log_level"] for line in logs if line["event"] == "startup.mismatch"] == ["critical"]
    assert session.journal.heartbeat("halt").state == "halted"
