"""A session that trades for a long time: its journal keeps a few snapshots per deployment, each the size of what
is live (open orders, the last record), not of everything so far, so the journal grows with the events alone;
and recovery from the latest of them, after thousands of candles, still ends with the books of an uninterrupted
run."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from pathlib import Path

from engine.live.journal import KEEP_SNAPSHOTS, Journal
from engine.live.startup import restore_session, resume_session
from tests.engine.live.rehearsal import BARS, FIRST, CrashingJournal, a_session, cached_candles, candle, drive

PARAMS = {"window": 20, "atr_window": 5, "atr_mult": 2.0, "short": True}  # trades often, stops resting, shorts


def _snapshots(path: Path) -> list[int]:
    """The byte size of each snapshot kept, oldest first."""
    with closing(sqlite3.connect(path)) as connection:
        return [n for (n,) in connection.execute("SELECT length(state) FROM snapshots ORDER BY seq")]


def _pages(path: Path) -> int:
    """The pages the journal's data takes (its file's size in pages, less those free for reuse)."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute("PRAGMA page_count").fetchone()[0] - \
            connection.execute("PRAGMA freelist_count").fetchone()[0]


def test_the_journal_keeps_a_few_snapshots_each_the_size_of_what_is_live(tmp_path):
    path = tmp_path / "long.sqlite"
    session = a_session(tmp_path, "long", "atr_trend", PARAMS, journal=Journal.open(path))
    sizes, pages = [], []
    for lo in range(FIRST, FIRST + 1800, 600):
        drive(session, lo, lo + 600)
        sizes.append(_snapshots(path))
        pages.append(_pages(path))
    assert [len(kept) for kept in sizes] == [KEEP_SNAPSHOTS] * 3  # 24 snapshots taken each time, 3 kept
    assert max(sizes[-1]) < 1.2 * max(sizes[0])  # after 1,800 candles as small as after 600
    assert pages[2] - pages[1] < 1.2 * (pages[1] - pages[0])  # the file grows with the events, not faster
    loop = session.loop
    assert len(loop.orders) <= 3 and len(loop.record_bar) == 1 and not loop.fills and not loop.events
    assert not session.venue.sim.fills and len(session.venue.sim.orders) == len(session.venue.sim.open)
    assert len(session.journal.fills_since("long")) > 100  # the history is the journal's


def test_recovery_from_the_latest_snapshot_after_thousands_of_candles_ends_with_uninterrupted_books(tmp_path):
    path, end = tmp_path / "crash.sqlite", FIRST + 2000
    CrashingJournal.at = candle(FIRST + 1990).ts_ms  # killed 15 candles after the last snapshot
    session = a_session(tmp_path, "crash", "atr_trend", PARAMS, journal=CrashingJournal.open(path))
    try:
        drive(session, FIRST, end)
    except SystemExit:
        pass
    session.journal.close()
    again = a_session(tmp_path, "crash", "atr_trend", PARAMS, journal=Journal.open(path))
    seq = restore_session(again)
    redriven = asyncio.run(resume_session(again, cached_candles(tmp_path / "cache"), seq))
    assert redriven == 15 and len(_snapshots(path)) == KEEP_SNAPSHOTS
    drive(again, again.t + FIRST, end)
    whole = a_session(tmp_path / "whole", "crash", "atr_trend", PARAMS)
    drive(whole, FIRST, end)
    ours, theirs = (s.journal for s in (again, whole))
    assert [e.event for e in ours.events_after("crash")] == [e.event for e in theirs.events_after("crash")]
    assert ours.fills_since("crash") == theirs.fills_since("crash") and ours.equity("crash") == theirs.equity("crash")
    books = [json.dumps({**s.state(), "deployment": None}, sort_keys=True) for s in (again, whole)]
    assert books[0] == books[1] and len(BARS) > end  # loop, venue, marks, pending decisions: all the same
