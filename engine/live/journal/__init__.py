"""The runner's journal: SQLite (WAL) through SQLAlchemy Core, its schema by Alembic migrations shipped here.
Events (append-only), orders by client id, fills by venue trade id, snapshots, equity marks, the runner's
heartbeat and starts. See `store` for the guarantees and engine/live/README.md for the tables."""

from engine.live.journal.errors import IntentConflict, JournalError, SecretRefused, UnknownOrder
from engine.live.journal.records import (Appended, Entry, EquityMark, FillRecord, Heartbeat, OrderRecord, Snapshot,
                                         Start)
from engine.live.journal.store import KEEP_SNAPSHOTS, Journal

__all__ = ["KEEP_SNAPSHOTS", "Appended", "Entry", "EquityMark", "FillRecord", "Heartbeat", "IntentConflict", "Journal",
           "JournalError", "OrderRecord", "SecretRefused", "Snapshot", "Start", "UnknownOrder"]
