"""Events: what the loop did and why, in order. Replay keeps them in a list; the live runner journals them.

Bars on which nothing happens produce no event: the loop visits only bars with a decision or an open
order (and values the idle stretches in bulk), which is what lets one loop serve replay at speed and live.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class EventKind(StrEnum):
    BAR_CLOSED = "bar_closed"
    SIGNAL = "signal"
    ORDER_SUBMITTED = "order_submitted"
    ORDER_ACCEPTED = "order_accepted"
    ORDER_PARTIALLY_FILLED = "order_partially_filled"
    ORDER_FILLED = "order_filled"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_REJECTED = "order_rejected"
    RISK_DECISION = "risk_decision"


class Event(NamedTuple):  # a tuple: immutable, and the cheapest record Python builds in a hot loop
    kind: EventKind
    bar: int
    ts_ms: int
    order_id: str = ""
    detail: str = ""
