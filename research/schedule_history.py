"""What scheduled jobs did: one row per run in `reports/schedule-history.sqlite`.

SQLite, so a foreground `gauntlet schedule run`, a `--once` from cron and `gauntlet schedule status` can
read and write it at the same time; every change is one transaction (atomic). A row is written when a run
starts and completed when it ends, so a run whose process died shows as interrupted, not as running.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

__all__ = ["FILE_NAME", "Busy", "Entry", "History"]

FILE_NAME = "schedule-history.sqlite"
_SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    result TEXT NOT NULL,       -- running | ok | failed
    run_id TEXT,                -- the run folder under reports/ (ok runs)
    note TEXT NOT NULL DEFAULT '',  -- the error of a failed run; what changed since the previous run
    pid INTEGER NOT NULL
)"""


@dataclass(frozen=True, slots=True)
class Entry:
    job: str
    started_at: datetime
    finished_at: datetime | None
    result: str  # running | ok | failed | interrupted (running, but its process is gone)
    run_id: str | None
    note: str


@dataclass(frozen=True, slots=True)
class Busy:
    """The job is running in another process."""

    pid: int
    since: datetime


class History:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One transaction, taken for writing at once (BEGIN IMMEDIATE), so a check and the write it
        decides are never split by another process; committed on success, rolled back on error."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def started(self, job: str, at: datetime, pid: int | None = None) -> int | Busy:
        """Record a run of `job` as started, unless another live process is running that job (a `--once`
        from cron beside `schedule run`): then nothing is recorded and `Busy` names that process."""
        pid = os.getpid() if pid is None else pid
        with self._db() as db:
            running = db.execute("SELECT pid, started_at FROM runs WHERE job = ? AND result = 'running' AND pid != ?",
                                 (job, pid)).fetchall()
            for other, since in running:
                if psutil.pid_exists(other):
                    return Busy(other, datetime.fromisoformat(since))
            cursor = db.execute("INSERT INTO runs (job, started_at, result, pid) VALUES (?, ?, 'running', ?)",
                                (job, at.isoformat(), pid))
            return int(cursor.lastrowid or 0)

    def finished(self, row: int, at: datetime, result: str, run_id: str | None, note: str) -> None:
        with self._db() as db:
            db.execute("UPDATE runs SET finished_at = ?, result = ?, run_id = ?, note = ? WHERE id = ?",
                       (at.isoformat(), result, run_id, note, row))

    def entries(self, job: str | None = None) -> list[Entry]:
        """Oldest first."""
        if not self.path.is_file():
            return []
        where, args = ("WHERE job = ?", (job,)) if job is not None else ("", ())
        with self._db() as db:
            rows = db.execute(f"SELECT job, started_at, finished_at, result, run_id, note, pid FROM runs {where} "
                              "ORDER BY id", args).fetchall()
        return [_entry(*row) for row in rows]

    def last(self, job: str) -> Entry | None:
        found = self.entries(job)
        return found[-1] if found else None

    def previous_run_id(self, job: str) -> str | None:
        """The run of the job's last successful run: what the next one is compared with."""
        done = [e.run_id for e in self.entries(job) if e.result == "ok" and e.run_id]
        return done[-1] if done else None


def _entry(job: str, started: str, finished: str | None, result: str, run_id: str | None, note: str,
           pid: int) -> Entry:
    if result == "running" and not _alive(pid):
        result = "interrupted"
    return Entry(job, datetime.fromisoformat(started), datetime.fromisoformat(finished) if finished else None, result,
                 run_id, note)


def _alive(pid: int) -> bool:
    return pid == os.getpid() or psutil.pid_exists(pid)
