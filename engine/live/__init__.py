"""The runner that trades a deployment, paper or live, with the loop replay drives (arrives with the
promotion and runner issue)."""

from engine.live.journal import (Appended, Entry, EquityMark, FillRecord, IntentConflict, Journal, JournalError,
                                 OrderRecord, SecretRefused, Snapshot, UnknownOrder)

__all__ = ["Appended", "Entry", "EquityMark", "FillRecord", "IntentConflict", "Journal", "JournalError", "OrderRecord",
           "SecretRefused", "Snapshot", "UnknownOrder"]
