"""Events to JSON and back: a record of `engine.core.events` is stored as its `kind` and its fields, and read
back as the same typed record (a property test holds the round trip for every type).

Only those types are stored: anything else is refused, so a journal never holds a record that no gauntlet
can read back. Values must be JSON (finite floats: a NaN price is a bug, and Postgres would refuse it).
Nothing named like a credential is stored either (`refuse_secrets`): keys stay in the environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, get_args

from engine.core.events import Event
from engine.live.journal.errors import JournalError, SecretRefused

__all__ = ["EVENT_TYPES", "check_json", "decode", "encode", "refuse_secrets"]

EVENT_TYPES: dict[str, type] = {cls.kind: cls for cls in get_args(Event)}
_SECRET = re.compile(r"secret|api_?key|apikey|passphrase|password|signature|private_?key", re.IGNORECASE)


def encode(event: Any) -> tuple[str, dict[str, Any]]:
    """(kind, fields) of an event, checked: a known type, no secret-named field, JSON values only."""
    name = type(event).__name__
    fields = event._asdict() if hasattr(event, "_asdict") else {}
    refuse_secrets(fields, f"a {name} event")
    kind = getattr(event, "kind", None)
    if kind not in EVENT_TYPES or type(event) is not EVENT_TYPES[kind]:
        raise JournalError(f"{name} is not an event of engine.core.events; the journal stores only those "
                           f"({', '.join(sorted(EVENT_TYPES))})")
    check_json(fields, f"the {kind} event at {fields.get('ts_ms')}")
    return kind, fields


def decode(kind: str, fields: Mapping[str, Any], where: str) -> Event:
    """The typed event stored as (kind, fields); `where` names the row for the error."""
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise JournalError(f"{where} holds an event of type {kind!r}, unknown to this gauntlet (a newer one wrote it?)")
    try:
        return cls(**fields)
    except TypeError as exc:
        raise JournalError(f"{where}: the {kind} event's fields do not match this gauntlet's ({exc})") from None


def refuse_secrets(value: Any, what: str) -> None:
    """Raise `SecretRefused` if any key of `value` (a mapping, searched through lists and nested mappings) is
    named like a credential."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _SECRET.search(str(key)):
                raise SecretRefused(f"{what} has a field named {key!r}: keys and secrets never go into the journal")
            refuse_secrets(item, what)
    elif isinstance(value, (list, tuple)):
        for item in value:
            refuse_secrets(item, what)


def check_json(value: Any, what: str) -> None:
    """Raise `JournalError` unless `value` is strict JSON."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise JournalError(f"{what} cannot be journaled: it holds a number that is not finite (NaN or infinity)") from None
    except TypeError as exc:
        raise JournalError(f"{what} cannot be journaled: {exc}") from None
