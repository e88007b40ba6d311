"""What the journal refuses, as one family of errors: each message names the file or the record and says what
to do. `JournalError` is a `RuntimeError`, so the CLI prints it as one line, never a traceback."""

from __future__ import annotations

__all__ = ["IntentConflict", "JournalError", "SecretRefused", "UnknownOrder"]


class JournalError(RuntimeError):
    """A journal that cannot be opened (a folder, an unreadable file, not a journal, from a newer gauntlet) or
    a write it refuses; nothing was written."""


class UnknownOrder(JournalError):
    """An order event or venue state for a client id whose intent this deployment never recorded: the runner
    records an order (or adopts one found on the exchange) before anything about it is journaled."""


class IntentConflict(JournalError):
    """A client id journaled once already as a different order: an id names one intent, forever."""


class SecretRefused(JournalError):
    """A field named like a credential: keys and secrets never go into the journal."""
