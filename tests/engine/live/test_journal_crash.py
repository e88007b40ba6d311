"""The journal under SIGKILL and under two writers: a writer process is killed at random moments, again and
again, and the journal it leaves is sound, every batch whole or absent, every intent complete; two processes
writing one file at once both finish; opening and recovering twice changes nothing."""

from __future__ import annotations

import multiprocessing
import os
import random
import select
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from engine.core.events import OrderFilled
from engine.live.journal import Journal
from tests.engine.live.journal_writer import batch, check_batches, write

ROOT = Path(__file__).resolve().parents[3]
KILLS = 30
_FORK = multiprocessing.get_context("fork")  # the child starts with everything imported: the kills land in writes


def _forked_writer(path: Path, deployment: str) -> tuple[multiprocessing.Process, object]:
    ready = _FORK.Event()
    writer = _FORK.Process(target=write, args=(str(path), deployment, 10**9, lambda start: ready.set()), daemon=True)
    writer.start()
    return writer, ready


def test_a_writer_killed_at_random_moments_leaves_whole_batches_and_complete_intents(tmp_path):
    kill_writer_repeatedly(tmp_path, KILLS, seed=20240611)


@pytest.mark.soak
def test_soak_a_writer_killed_three_hundred_times(tmp_path):
    """`make soak`: ten times the kills of the test above, on other random moments."""
    kill_writer_repeatedly(tmp_path, 10 * KILLS, seed=int(time.time()))


def kill_writer_repeatedly(tmp_path: Path, kills: int, seed: int) -> None:
    path, rng = tmp_path / "journal.sqlite", random.Random(seed)
    surveys = []
    for run in range(kills):
        writer, ready = _forked_writer(path, "killed")
        if run % 5 == 0:  # while it opens the journal (the first time: while it migrates a new one)
            time.sleep(rng.uniform(0.0, 0.05))
        else:  # while it writes
            assert ready.wait(30)
            time.sleep(rng.uniform(0.0, 0.4))
        writer.kill()  # SIGKILL
        writer.join()
        assert writer.exitcode == -9
        with Journal.open(path) as journal:
            assert journal.integrity_problems() == []
            surveys.append(check_batches(journal, "killed"))
    assert surveys[-1].whole >= 20, (seed, surveys)  # the kills landed among real writes
    assert surveys[-1].intents_only <= kills, seed  # at most one unanswered intent per kill


def test_a_writer_killed_while_it_creates_the_journal_leaves_one_that_opens(tmp_path):
    rng = random.Random(7)
    for run in range(10):
        path = tmp_path / f"journal-{run}.sqlite"
        writer, _ = _forked_writer(path, "new")
        time.sleep(rng.uniform(0.0, 0.15))
        writer.kill()
        writer.join()
        with Journal.open(path) as journal:
            assert journal.revision == "0003" and journal.integrity_problems() == []
            check_batches(journal, "new")


def _writer(path: Path, deployment: str, count: int, log: Path) -> subprocess.Popen:
    """The writer as a process of its own (`python -m`), as a second runner or tool would be."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(log, "ab") as stderr:
        return subprocess.Popen([sys.executable, "-m", "tests.engine.live.journal_writer", str(path), deployment,
                                 str(count)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr)


def _ready(process: subprocess.Popen, timeout_s: float = 60.0) -> bool:
    """Wait for the writer's `ready` line (False if it exited first)."""
    readable, _, _ = select.select([process.stdout], [], [], timeout_s)
    return bool(readable) and process.stdout.readline().startswith(b"ready")


def test_two_processes_writing_one_journal_at_once_both_finish(tmp_path):
    path, log = tmp_path / "journal.sqlite", tmp_path / "writers.log"
    writers = [_writer(path, name, 60, log) for name in ("alpha", "beta")]  # a fresh file: both migrate it at once
    assert all(_ready(writer) for writer in writers), log.read_text()
    assert all(writer.poll() is None for writer in writers)  # both open, both writing (or waiting for the lock)
    for writer in writers:
        assert writer.wait(timeout=120) == 0, log.read_text()
        writer.stdout.close()
    assert log.read_text() == ""  # in particular, no "database is locked"
    with Journal.open(path) as journal:
        assert journal.integrity_problems() == []
        for name in ("alpha", "beta"):
            assert check_batches(journal, name).whole == 60


def _dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, read with the sqlite3 module (not through the journal)."""
    with closing(sqlite3.connect(path)) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in tables}


def _recover(path: Path, deployment: str) -> tuple[OrderFilled, ...]:
    """What a restart does with the journal: open it, load the snapshot and the events after it, and take the
    venue's word again for every order and trade it reports (all of them known already)."""
    with Journal.open(path) as journal:
        snapshot = journal.latest_snapshot(deployment)
        journal.events_after(deployment, snapshot.seq if snapshot else 0)
        reported = []
        for i, record in enumerate(journal.orders(deployment)):
            order, events = batch(deployment, i)
            journal.record_intent(deployment, order, record.intent_ms)
            reported += [event for event in events if isinstance(event, OrderFilled)]
        return journal.append(deployment, reported).duplicates


def test_opening_and_recovering_twice_changes_nothing(tmp_path):
    path = tmp_path / "journal.sqlite"
    write(str(path), "twice", 20, ready=lambda start: None)
    before = _dump(path)
    first = _recover(path, "twice")
    after_one = _dump(path)
    assert _recover(path, "twice") == first
    assert before == after_one == _dump(path)
    assert len(first) == len(before["fills"]) > 0  # every trade reported again, none booked twice
