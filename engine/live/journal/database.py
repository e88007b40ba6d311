"""The connection: where a journal lives and the SQLite settings every connection to it gets.

A journal is a SQLite file (or, later, any SQLAlchemy URL: Postgres for users who outgrow one file). Each
new SQLite connection is set up by an engine `connect` event, so no connection ever runs without:

- `journal_mode=WAL`: readers (`gauntlet status`) never block the runner, and a commit is one append;
- `synchronous=FULL`: a commit returns only once the WAL is on disk, so an intent is durable before the
  order's request leaves and a fill is never lost to a power cut after it was acknowledged;
- `busy_timeout`: a second process writing the same file waits for the lock instead of failing with
  "database is locked";
- `foreign_keys=ON`: a fill always belongs to a journaled order.

Transactions are begun by us, not by the `sqlite3` module (whose legacy mode begins them lazily, after the
first read): a write transaction is `BEGIN IMMEDIATE`, taking the write lock before it reads anything, so two
writers queue on the busy timeout instead of deadlocking on a lock upgrade; a read is a plain `BEGIN`, a
consistent snapshot of the file.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from engine.live.journal.errors import JournalError

__all__ = ["WRITE", "connect", "location", "sqlite_path"]

WRITE = {"journal_write": True}  # execution options of a write transaction (BEGIN IMMEDIATE on SQLite)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_to_json = partial(json.dumps, allow_nan=False, separators=(",", ":"))  # JSON columns: strict JSON, compact


def sqlite_path(target: str | Path) -> Path | None:
    """The file of a SQLite journal (a path, or a `sqlite:///` URL), or None for another database's URL."""
    if isinstance(target, Path) or "://" not in target:
        return Path(target)
    url = make_url(target)
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def location(target: str | Path) -> str:
    """The journal's name in messages: its file, or its URL with the password hidden."""
    path = sqlite_path(target)
    return str(path) if path is not None else make_url(str(target)).render_as_string(hide_password=True)


def connect(target: str | Path, busy_timeout_s: float) -> Engine:
    """An engine for the journal at `target`, its file checked first; nothing is created but the folder."""
    path = sqlite_path(target)
    if path is None:
        try:
            return create_engine(target, json_serializer=_to_json)
        except (ImportError, ArgumentError) as exc:
            raise JournalError(f"cannot open the journal {location(target)}: {exc}") from None
    _check_file(path)
    engine = create_engine(URL.create("sqlite", database=str(path)), json_serializer=_to_json)
    event.listen(engine, "connect", partial(_set_pragmas, busy_timeout_ms=round(busy_timeout_s * 1000), path=path))
    event.listen(engine, "begin", _begin)
    return engine


def _check_file(path: Path) -> None:
    """Refuse, naming the path, what SQLite would report as 'unable to open database file' or worse."""
    if path.is_dir():
        raise JournalError(f"{path} is a folder, not a journal file: give the file's path, e.g. {path / 'journal.sqlite'}")
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot make the folder for the journal {path}: {exc.strerror}") from None
        return
    if not path.is_file():
        raise JournalError(f"{path} is not a regular file, so it cannot be a journal")
    try:
        with open(path, "r+b") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise JournalError(f"cannot read and write the journal {path}: {exc.strerror}") from None
    if head and head != _SQLITE_MAGIC:
        raise JournalError(f"{path} is not a journal: it is not a SQLite database")


def _set_pragmas(dbapi_connection: Any, _record: Any, *, busy_timeout_ms: int, path: Path) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (`_begin`); sqlite3 still commits
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")  # first: switching to WAL may wait on a lock
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise JournalError(f"the journal {path} cannot use write-ahead logging (SQLite kept journal_mode={mode})")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get("journal_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
