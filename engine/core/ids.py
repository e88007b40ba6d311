"""Client order ids: the one place they are made, deterministic from what the order is.

An id is `g<scope>-<decided>-<role><attempt>`: a 6-character tag of the deployment or run that owns the
order, the decision's open time in hex, the order's role in that decision and the attempt number (hex).
Names come from time, never from a bar index, so two windows of the same data, a restarted runner and the
bar-by-bar driver all call one order by one name, and two deployments on one account never share one.
A resend after a lost answer is a new attempt, never the same id twice (the exchange refuses a
duplicate client id of an open order). At most 36 characters of `[A-Za-z0-9_-]`, as Binance accepts.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["ROLES", "ClientId", "client_order_id", "parse_client_id", "scope_tag"]

# role -> one letter (the id keeps room for long attempt counts and any scope)
ROLES = {"entry": "e", "exit": "x", "stop_loss": "s", "take_profit": "t", "manual": "m", "flatten": "f"}
_LETTERS = {letter: role for role, letter in ROLES.items()}
_PATTERN = re.compile(r"^g(?P<scope>[a-z2-7]{6})-(?P<decided>[0-9a-f]+)-(?P<role>[a-z])(?P<attempt>[0-9a-f]+)$")
MAX_LENGTH = 36


@dataclass(frozen=True, slots=True)
class ClientId:
    """A parsed client id: whose order, which decision, which role, which attempt."""

    scope: str  # the 6-character tag, not the name it was made from
    decided_ms: int
    role: str
    attempt: int


@lru_cache(maxsize=256)  # a replay names thousands of orders for one scope
def scope_tag(scope: str) -> str:
    """Six base-32 characters of the scope name's sha256 (one in a billion chance that two names share one)."""
    if not scope:
        raise ValueError("a client id needs a scope: the deployment or run that owns the order")
    return base64.b32encode(hashlib.sha256(scope.encode()).digest()).decode()[:6].lower()


def client_order_id(scope: str, decided_ms: int, role: str, attempt: int = 0) -> str:
    """The id of the `attempt`-th try of the order playing `role` in the decision made at `decided_ms`."""
    if role not in ROLES:
        raise ValueError(f"unknown order role {role!r}; one of {', '.join(ROLES)}")
    if decided_ms < 0 or attempt < 0:
        raise ValueError(f"decision time and attempt must be non-negative, got {decided_ms} and {attempt}")
    text = f"g{scope_tag(scope)}-{decided_ms:x}-{ROLES[role]}{attempt:x}"
    if len(text) > MAX_LENGTH:  # only an absurd attempt count gets here
        raise ValueError(f"client id {text} is longer than {MAX_LENGTH} characters")
    return text


def parse_client_id(text: str) -> ClientId | None:
    """What an id says, or None for an id we did not make (an order placed by hand, another bot)."""
    match = _PATTERN.fullmatch(text)
    if match is None or match["role"] not in _LETTERS:
        return None
    return ClientId(match["scope"], int(match["decided"], 16), _LETTERS[match["role"]], int(match["attempt"], 16))

