"""The journal's API on a real SQLite file: intents before sending, batches of events in one transaction,
order rows that follow the venue, fills booked once by venue trade id, the reads recovery and reconciliation
make, snapshots, equity marks and the Parquet export."""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.events import (BarClosed, Decided, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected,
                                OrderSubmitted, RiskChecked)
from engine.core.ids import client_order_id
from engine.core.orders import InvalidTransition, Order, OrderStatus, OrderType
from engine.live.journal import EquityMark, IntentConflict, Journal, JournalError, SecretRefused, UnknownOrder

DEP = "sma-btc-paper"


@pytest.fixture
def journal(tmp_path):
    with Journal.open(tmp_path / "journal.sqlite") as journal:
        yield journal


def _order(minute: int = 1, deployment: str = DEP, **kw) -> Order:
    return Order(client_order_id(deployment, minute * 60_000, "entry"), "BTC/USDT", 1, 0.5, **kw)


def _fill(order: Order, trade_id: str, qty: float = 0.25, done: bool = False, ts_ms: int = 2_000) -> OrderFilled:
    return OrderFilled(ts_ms, order.client_id, qty, 100.0, 0.025, "USDT", trade_id, done)


def test_an_intent_is_journaled_as_submitted_and_readable_by_another_connection_on_return(journal, tmp_path):
    order = _order(limit_px=99.5, type=OrderType.LIMIT)
    journal.record_intent(DEP, order, 1_000)
    with closing(sqlite3.connect(tmp_path / "journal.sqlite")) as other:
        assert other.execute("SELECT status, venue_order_id, limit_px FROM orders").fetchall() == [("submitted", None, 99.5)]
    record = journal.order(order.client_id)
    assert (record.symbol, record.side, record.type, record.qty, record.limit_px, record.status, record.intent_ms) == \
        ("BTC/USDT", 1, OrderType.LIMIT, 0.5, 99.5, OrderStatus.SUBMITTED, 1_000)
    assert record.is_open and record.unanswered and journal.order("nobody") is None


def test_the_same_intent_again_changes_nothing_and_another_order_under_its_id_is_refused(journal):
    order = _order()
    journal.record_intent(DEP, order, 1_000)
    journal.record_intent(DEP, order, 5_000)
    assert journal.order(order.client_id).intent_ms == 1_000
    with pytest.raises(IntentConflict, match=f"{order.client_id} .* with side 1 \\(now -1\\)"):
        journal.record_intent(DEP, Order(order.client_id, "BTC/USDT", -1, 0.5), 6_000)


def test_an_order_moves_with_the_venue_and_a_fill_is_booked(journal):
    order = _order()
    journal.record_intent(DEP, order, 1_000)
    journal.append(DEP, [OrderSubmitted(1_000, order.client_id, 1, "market", 0.5), OrderAccepted(1_500, order.client_id, "v9")])
    record = journal.order(order.client_id)
    assert (record.status, record.venue_order_id, record.unanswered) == (OrderStatus.ACCEPTED, "v9", False)
    journal.append(DEP, [_fill(order, "t1")])
    assert (journal.order(order.client_id).status, journal.order(order.client_id).filled_qty) == \
        (OrderStatus.PARTIALLY_FILLED, 0.25)
    journal.append(DEP, [_fill(order, "t2", done=True, ts_ms=3_000)])
    record = journal.order(order.client_id)
    assert (record.status, record.filled_qty, record.updated_ms, record.is_open) == (OrderStatus.FILLED, 0.5, 3_000, False)
    assert [(f.trade_id, f.qty, f.px, f.fee, f.fee_asset, f.symbol) for f in journal.fills_since(DEP)] == \
        [("t1", 0.25, 100.0, 0.025, "USDT", "BTC/USDT"), ("t2", 0.25, 100.0, 0.025, "USDT", "BTC/USDT")]


def test_a_fill_reported_twice_is_booked_once_and_reported(journal):
    order = _order()
    journal.record_intent(DEP, order, 1_000)
    first = journal.append(DEP, [_fill(order, "t1"), _fill(order, "t1")])
    again = journal.append(DEP, [BarClosed(3_000), _fill(order, "t1")])
    assert (len(first.seqs), first.duplicates) == (1, (_fill(order, "t1"),))
    assert (len(again.seqs), again.duplicates) == (1, (_fill(order, "t1"),))
    assert [f.trade_id for f in journal.fills_since(DEP)] == ["t1"] and journal.order(order.client_id).filled_qty == 0.25
    assert [type(e.event) for e in journal.events_after(DEP)] == [OrderFilled, BarClosed]  # the fold books it once too


def test_a_trade_id_is_unique_per_deployment_and_symbol(journal):
    mine, eth, theirs = _order(1), Order(client_order_id(DEP, 120_000, "entry"), "ETH/USDT", 1, 2.0), _order(1, "other")
    for deployment, order in ((DEP, mine), (DEP, eth), ("other", theirs)):
        journal.record_intent(deployment, order, 1_000)
        assert journal.append(deployment, [_fill(order, "t1")]).duplicates == ()
    assert [f.symbol for f in journal.fills_since(DEP)] == ["BTC/USDT", "ETH/USDT"]
    assert journal.fills_since(DEP, symbol="ETH/USDT")[0].client_id == eth.client_id


def test_a_batch_is_all_or_nothing(journal):
    order = _order()
    journal.record_intent(DEP, order, 1_000)
    stranger = OrderAccepted(2_000, "g-someone-else", "v1")
    with pytest.raises(UnknownOrder, match="g-someone-else"):  # refused mid-transaction, after two rows went in
        journal.append(DEP, [BarClosed(2_000), _fill(order, "t1"), stranger])
    with pytest.raises(JournalError, match="not an event"):  # refused before the transaction
        journal.append(DEP, [BarClosed(2_000), ("not", "an", "event")])
    assert journal.events_after(DEP) == [] and journal.fills_since(DEP) == []
    assert journal.order(order.client_id).status is OrderStatus.SUBMITTED and journal.last_seq(DEP) == 0


def test_an_event_about_another_deployments_order_is_refused(journal):
    order = _order(deployment="other")
    journal.record_intent("other", order, 1_000)
    with pytest.raises(UnknownOrder, match="deployment other"):
        journal.append(DEP, [OrderAccepted(2_000, order.client_id, "v1")])


def test_a_late_acknowledgement_adds_the_venue_id_without_reopening_the_order(journal):
    order = _order()
    journal.record_intent(DEP, order, 1_000)
    journal.append(DEP, [_fill(order, "t1", qty=0.5, done=True), OrderAccepted(2_500, order.client_id, "v7"),
                         OrderCancelled(2_600, order.client_id, "too late")])
    record = journal.order(order.client_id)
    assert (record.status, record.venue_order_id, record.reason) == (OrderStatus.FILLED, "v7", "")


STEPS = ["accepted", "rejected", "cancelled"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    with Journal.open(tmp_path_factory.mktemp("machine") / "journal.sqlite") as journal:
        yield journal


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.one_of(st.sampled_from(STEPS), st.floats(0.01, 0.3)), max_size=10))
def test_on_every_sequence_the_state_machine_accepts_the_row_is_the_machines(shared, steps):
    """The loop's `Order` judges each of the venue's events; the journal takes the ones it accepts, and the
    row ends where the order does (status, venue id, quantity filled)."""
    deployment = uuid.uuid4().hex  # one journal for all examples, a deployment each
    order = _order(deployment=deployment)
    shared.record_intent(deployment, order, 0)
    taken = [OrderSubmitted(0, order.client_id, 1, "market", 0.5)]
    order.apply(taken[0])
    for i, step in enumerate(steps):
        event = _event(step, order, i)
        try:
            order.apply(event)
        except InvalidTransition:
            continue
        taken.append(event)
    shared.append(deployment, taken)
    record = shared.order(order.client_id)
    assert (record.status, record.venue_order_id or "", record.filled_qty) == \
        (order.status, order.venue_order_id, pytest.approx(order.filled_qty, rel=1e-12))


def _event(step: str | float, order: Order, i: int):
    cid = order.client_id
    if isinstance(step, float):
        return OrderFilled(i, cid, step, 100.0, 0.01, "USDT", f"t{i}", order.completes(step, 100.0, 0.01))
    return {"accepted": OrderAccepted(i, cid, f"v{i}"), "rejected": OrderRejected(i, cid, "filter"),
            "cancelled": OrderCancelled(i, cid, "asked")}[step]


def test_the_reads_reconciliation_and_recovery_make(journal):
    orders = [_order(minute) for minute in (1, 2, 3)]
    for minute, order in enumerate(orders):
        journal.record_intent(DEP, order, 60_000 * minute)
    journal.append(DEP, [Decided(1_000, 0, "long entry"), RiskChecked(1_000, 1e4, 500.0, 0.0, "max_drawdown", 1.2e4),
                         _fill(orders[0], "t1", qty=0.5, done=True, ts_ms=1_000),
                         OrderRejected(1_100, orders[1].client_id, "-2010 insufficient balance"),
                         _fill(orders[2], "t2", ts_ms=4_000)])
    assert [o.client_id for o in journal.orders(DEP, open_only=True)] == [orders[2].client_id]
    assert [o.client_id for o in journal.orders(DEP)] == [o.client_id for o in orders]
    assert [f.trade_id for f in journal.fills_since(DEP, 2_000)] == ["t2"]
    assert (journal.last_fill(DEP).trade_id, journal.last_fill(DEP).ts_ms) == ("t2", 4_000)
    assert journal.last_fill(DEP, "ETH/USDT") is None and journal.last_fill("nobody") is None
    assert journal.last_seq(DEP) == 5 and [e.seq for e in journal.events_after(DEP, 3)] == [4, 5]
    refusal = journal.events_after(DEP)[1].event
    assert (refusal.rule, refusal.outcome) == ("max_drawdown", "blocked")  # a risk refusal is an event with its rule


def test_recovery_starts_from_the_latest_snapshot(journal):
    journal.append(DEP, [BarClosed(t) for t in range(5)])
    assert journal.latest_snapshot(DEP) is None
    journal.save_snapshot(DEP, 2, {"cash": 1_000.0, "qty": 0.0}, 10)
    journal.save_snapshot(DEP, 4, {"cash": 990.0, "qty": 0.1}, 11)
    snapshot = journal.latest_snapshot(DEP)
    assert (snapshot.seq, snapshot.state, snapshot.created_ms) == (4, {"cash": 990.0, "qty": 0.1}, 11)
    assert [e.event for e in journal.events_after(DEP, snapshot.seq)] == [BarClosed(4)]
    with pytest.raises(JournalError, match="ahead of its last event"):
        journal.save_snapshot(DEP, 6, {}, 12)
    with pytest.raises(SecretRefused):
        journal.save_snapshot(DEP, 4, {"venue": {"apiKey": "k"}}, 12)


def test_each_deployment_keeps_its_newest_snapshots_and_a_pruned_one_goes_with_the_new_ones_transaction(tmp_path):
    path = tmp_path / "kept.sqlite"
    with Journal.open(path, keep_snapshots=2) as journal:
        for t in range(1, 7):
            journal.append(DEP, [BarClosed(t)])
            journal.append("other", [BarClosed(t)])
            journal.save_snapshot(DEP, journal.last_seq(DEP), {"t": t}, t)
            if t <= 3:
                journal.save_snapshot("other", journal.last_seq("other"), {"t": t}, t)
        with pytest.raises(JournalError):  # a refused snapshot prunes nothing
            journal.save_snapshot(DEP, 10_000, {"t": 99}, 99)
        assert journal.latest_snapshot(DEP).state == {"t": 6} and journal.latest_snapshot("other").state == {"t": 3}
    with closing(sqlite3.connect(path)) as connection:
        kept = connection.execute("SELECT deployment, json_extract(state, '$.t') FROM snapshots ORDER BY 1, 2").fetchall()
    assert kept == [("other", 2), ("other", 3), (DEP, 5), (DEP, 6)]
    with pytest.raises(ValueError, match="at least the latest snapshot"):
        Journal.open(path, keep_snapshots=0)


def test_equity_marks_one_per_time_the_later_wins(journal):
    journal.record_equity(DEP, EquityMark(1_000, 10_000.0, 10_000.0, 0.0))
    journal.record_equity(DEP, EquityMark(2_000, 10_050.0, 5_000.0, 0.1))
    journal.record_equity(DEP, EquityMark(2_000, 10_040.0, 5_000.0, 0.1))
    assert journal.equity(DEP) == [EquityMark(1_000, 10_000.0, 10_000.0, 0.0), EquityMark(2_000, 10_040.0, 5_000.0, 0.1)]
    assert journal.equity(DEP, since_ms=1_500) == [EquityMark(2_000, 10_040.0, 5_000.0, 0.1)]
    with pytest.raises(JournalError, match="not finite"):
        journal.record_equity(DEP, EquityMark(3_000, float("inf"), 0.0, 0.0))


def test_the_venues_raw_state_is_kept_and_never_a_credential(journal):
    order = _order()
    journal.record_intent(DEP, order, 1_000)
    journal.note_venue_state(order.client_id, {"orderId": 42, "status": "NEW", "fills": []}, 1_200)
    assert journal.order(order.client_id).venue_state == {"orderId": 42, "status": "NEW", "fills": []}
    with pytest.raises(SecretRefused, match="signature"):
        journal.note_venue_state(order.client_id, {"request": [{"signature": "abc"}]}, 1_300)
    with pytest.raises(UnknownOrder):
        journal.note_venue_state("g-unknown", {"status": "NEW"}, 1_300)
    assert journal.order(order.client_id).updated_ms == 1_200


def test_export_writes_orders_fills_and_events_as_parquet_replacing_atomically(journal, tmp_path):
    order = _order()
    journal.record_intent(DEP, order, 1_000)
    journal.note_venue_state(order.client_id, {"orderId": 42}, 1_000)
    journal.append(DEP, [BarClosed(1_000), _fill(order, "t1", qty=0.5, done=True)])
    folder = tmp_path / "export"
    (folder / "events.parquet").parent.mkdir()
    (folder / "events.parquet").write_text("an older export")
    paths = journal.export(DEP, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["events.parquet", "fills.parquet", "orders.parquet"] == \
        sorted(p.name for p in paths)
    orders, fills, events = (pq.read_table(folder / f"{name}.parquet").to_pylist() for name in ("orders", "fills", "events"))
    assert [(o["client_id"], o["status"], json.loads(o["venue_state"])) for o in orders] == \
        [(order.client_id, "filled", {"orderId": 42})]
    assert [(f["trade_id"], f["qty"], f["seq"]) for f in fills] == [("t1", 0.5, 2)]
    assert [(e["seq"], e["type"], json.loads(e["fields"])["ts_ms"]) for e in events] == [(1, "bar_closed", 1_000),
                                                                                         (2, "order_filled", 2_000)]
    journal.export("nobody", tmp_path / "empty")
    assert pq.read_table(tmp_path / "empty" / "fills.parquet").num_rows == 0
