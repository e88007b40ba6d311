"""The batches the crash and concurrency tests journal, the process that writes them until it is killed, and
the check of what a killed writer left behind.

`python -m tests.engine.live.journal_writer PATH DEPLOYMENT COUNT` journals batches COUNT of them, resuming
after the intents already there, and prints `ready N` once the journal is open (N: the batch it resumes at).
Batch i is: the intent of order i, then one transaction of its events (bar, decision, risk check, submitted,
accepted, one to four fills), then an equity mark, and every fifth batch a snapshot.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from engine.core.events import BarClosed, Decided, OrderAccepted, OrderFilled, OrderSubmitted, RiskChecked
from engine.core.ids import client_order_id
from engine.core.orders import Order, OrderStatus
from engine.live.journal import EquityMark, Journal

BASE_MS = 1_700_000_000_000
STEP_MS = 60_000
SYMBOL = "BTC/USDT"


def batch(deployment: str, i: int) -> tuple[Order, list]:
    """Order i of `deployment` and the events one batch journals about it (every event at the batch's time)."""
    ts = BASE_MS + i * STEP_MS
    cid = client_order_id(deployment, ts, "entry")
    side, qty, parts = (1 if i % 2 == 0 else -1), 0.001 * (1 + i % 7), 1 + i % 4
    order = Order(cid, SYMBOL, side, qty)
    events = [BarClosed(ts), Decided(ts, ts - STEP_MS, "long entry" if side > 0 else "short entry"),
              RiskChecked(ts, 10_000.0 + i, 500.0, 500.0), OrderSubmitted(ts, cid, side, "market", qty),
              OrderAccepted(ts, cid, f"v{i}")]
    events += [OrderFilled(ts, cid, qty / parts, 100.0 + i, 0.001 * (k + 1), "USDT", f"{deployment}-{i}-{k}",
                           k == parts - 1) for k in range(parts)]
    return order, events


def write(path: str, deployment: str, count: int, ready: Callable[[int], object] = lambda start: print("ready", start,
                                                                                                   flush=True)) -> None:
    """Journal batches up to `count`, resuming after the intents there; `ready(start)` once it is open."""
    with Journal.open(path) as journal:
        start = len(journal.orders(deployment))
        ready(start)
        for i in range(start, count):
            order, events = batch(deployment, i)
            journal.record_intent(deployment, order, events[0].ts_ms)
            done = journal.append(deployment, events)
            journal.record_equity(deployment, EquityMark(events[0].ts_ms, 10_000.0 + i, 9_000.0 - i, order.side * order.qty))
            if i % 5 == 4:
                journal.save_snapshot(deployment, done.seqs[-1], {"batch": i}, events[0].ts_ms)


@dataclass(frozen=True)
class Survey:
    """What a check of one deployment found: batches whole, intents journaled whose batch never was."""

    whole: int
    intents_only: int


def check_batches(journal: Journal, deployment: str) -> Survey:
    """Assert that every batch of `deployment` is wholly present or wholly absent, that the intents are the
    batches' orders from the first on, each complete, and that rows, fills, marks and snapshots agree."""
    records = journal.orders(deployment)
    entries = journal.events_after(deployment)
    position, whole = 0, []
    for i, record in enumerate(records):
        order, events = batch(deployment, i)
        assert (record.client_id, record.symbol, record.side, record.qty, record.quote_qty, record.type) == \
            (order.client_id, order.symbol, order.side, order.qty, None, order.type), f"intent {i} incomplete"
        mine = [entry.event for entry in entries[position:position + len(events)]]
        if mine and mine[0].ts_ms == events[0].ts_ms:
            assert mine == events, f"batch {i} of {deployment} is half-written: {mine}"
            assert (record.status, record.venue_order_id, record.filled_qty) == \
                (OrderStatus.FILLED, f"v{i}", sum(e.qty for e in events if isinstance(e, OrderFilled)))
            position += len(events)
            whole.append(i)
        else:  # the intent went to disk, the process died before the batch: unknown, awaiting a look-up
            assert (record.status, record.venue_order_id, record.filled_qty) == (OrderStatus.SUBMITTED, None, 0.0)
    assert position == len(entries), f"{len(entries) - position} events of {deployment} belong to no intent"
    _check_the_rest(journal, deployment, whole, entries)
    return Survey(len(whole), len(records) - len(whole))


def _check_the_rest(journal: Journal, deployment: str, whole: list[int], entries: list) -> None:
    """Fills, equity marks and snapshots exist only for whole batches, and a snapshot ends where its batch does."""
    trade_ids = [f.trade_id for f in journal.fills_since(deployment)]
    assert trade_ids == [e.trade_id for i in whole for e in batch(deployment, i)[1] if isinstance(e, OrderFilled)]
    times = {BASE_MS + i * STEP_MS for i in whole}
    assert {mark.ts_ms for mark in journal.equity(deployment)} <= times
    last_seq = {entry.event.ts_ms: entry.seq for entry in entries}  # the last seq of each batch's time
    snapshot = journal.latest_snapshot(deployment)
    if snapshot is not None:
        assert snapshot.seq == last_seq[BASE_MS + snapshot.state["batch"] * STEP_MS]


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2], int(sys.argv[3]))
