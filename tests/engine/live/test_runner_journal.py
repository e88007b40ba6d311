"""What the runner adds to the journal: a candle's events, equity mark, heartbeat and snapshot in one
transaction (all or none), the runner's row per deployment, every start of its runner kept (the evidence of a
restart drift reads), and a journal of the first schema upgraded to it with its rows kept."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from engine.core.events import BarClosed, OrderAccepted, OrderFilled, OrderSubmitted
from engine.core.ids import client_order_id
from engine.core.orders import Order
from engine.live.journal import EquityMark, Heartbeat, Journal, JournalError, Start
from engine.live.journal.migrate import head_revision

TS = 1_700_000_000_000


def _tick(journal: Journal, i: int, snapshot: dict | None = None):
    cid = client_order_id("d", TS + i, "entry")
    journal.record_intent("d", Order(cid, "BTC/USDT", 1, 0.5), TS + i)
    events = [OrderSubmitted(TS + i, cid, 1, "market", 0.5), OrderAccepted(TS + i, cid, f"v{i}"),
              OrderFilled(TS + i, cid, 0.5, 100.0, 0.05, "USDT", f"t{i}", True), BarClosed(TS + i)]
    return journal.record_tick("d", events, EquityMark(TS + i, 1000.0 + i, 950.0, 0.5),
                               Heartbeat("running", TS, TS + 10 + i, TS + i, 42), snapshot)


def test_a_candle_goes_in_whole_with_its_mark_heartbeat_and_snapshot(tmp_path):
    with Journal.open(tmp_path / "j.sqlite") as journal:
        assert journal.heartbeat("d") is None
        first = _tick(journal, 0)
        second = _tick(journal, 1, snapshot={"books": [1, 2]})
        assert len(first.seqs) == len(second.seqs) == 4 and second.seqs[0] == first.seqs[-1] + 1
        assert journal.latest_snapshot("d").seq == second.seqs[-1]
        assert journal.latest_snapshot("d").state == {"books": [1, 2]}
        assert [m.equity for m in journal.equity("d")] == [1000.0, 1001.0]
        assert journal.heartbeat("d") == Heartbeat("running", TS, TS + 11, TS + 1, 42)
        journal.beat("d", Heartbeat("stopped", TS, TS + 99, TS + 1, 42, "asked to stop"))
        assert journal.heartbeat("d").state == "stopped" and journal.heartbeat("d").detail == "asked to stop"
        with pytest.raises(JournalError):  # a NaN in the snapshot: refused, and nothing of the candle is written
            _tick(journal, 2, snapshot={"x": float("nan")})
        assert journal.last_seq("d") == second.seqs[-1] and len(journal.equity("d")) == 2


def test_every_start_of_a_runner_is_kept_once_with_the_last_candle_before_it(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as journal:
        assert journal.starts("d") == []
        journal.beat("d", Heartbeat("running", TS, TS + 1, None, 41))  # a first start: no candle handled yet
        _tick(journal, 0)  # the same process: its start is kept already
        journal.beat("d", Heartbeat("stopped", TS, TS + 20, TS, 41, "asked to stop"))
    with Journal.open(path) as journal:  # the same process's start seen by another journal object: kept once
        journal.beat("d", Heartbeat("running", TS, TS + 30, TS, 41))
        journal.beat("d", Heartbeat("running", TS + 50, TS + 51, TS, 42))  # a restart after the candle at TS
        journal.beat("other", Heartbeat("running", TS + 50, TS + 51, None, 42))
        assert journal.starts("d") == [Start(TS, None, 41), Start(TS + 50, TS, 42)]
        assert journal.starts("other") == [Start(TS + 50, None, 42)]


def test_a_journal_of_the_first_schema_is_upgraded_with_its_rows_kept(tmp_path):
    path = tmp_path / "old.sqlite"
    with Journal.open(path) as journal:
        journal.record_intent("d", Order("cid-1", "BTC/USDT", 1, 0.5), TS)
        journal.append("d", [BarClosed(TS)])
    with closing(sqlite3.connect(path)) as connection, connection:  # back to what revision 0001 made
        connection.execute("DROP TABLE runner")
        connection.execute("DROP TABLE starts")
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    with Journal.open(path) as journal:
        assert journal.revision == head_revision() == "0003"
        assert [e.event for e in journal.events_after("d")] == [BarClosed(TS)]
        assert journal.order("cid-1") is not None and journal.heartbeat("d") is None
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("SELECT count(*) FROM runner").fetchone() == (0,)
        assert connection.execute("SELECT count(*) FROM starts").fetchone() == (0,)
