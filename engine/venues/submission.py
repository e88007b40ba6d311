"""The idempotent submission protocol (DESIGN.md, "Venues"), as a pure state machine: one attempt of one
order and what is known of it. The ccxt venue drives it (requests, clocks, sleeps); nothing here does I/O.

    sending --answer--> placed                      (the exchange has it, whatever it has done since)
       |  \\--refusal--> refused                      (it said no: the order never existed)
       +--no answer, timeout, 5xx, -1006/-1007--> unknown --found by client id--> placed
                                                     \\--deadline passed, k look-ups agree--> absent

"The request timed out" is not "the order does not exist". An unknown order is looked up by client id; a
look-up that finds nothing proves nothing until the request can no longer be acted on: Binance refuses a
request once its `timestamp + recvWindow` has passed on the exchange's clock, and an order it did accept may
stay out of queries for a few seconds after ("Memory => Database"). So a miss counts only when the venue's
clock, read before the look-up, is past `timestamp + recvWindow + margin`, and `confirmations` counted misses
prove it absent. Only then may it be resent, under the next attempt's client id (`engine.core.ids`), never
under its own. An exchange that said the order exists (-2010 "Duplicate order sent.") is never overruled by
misses.

Step 1 of the protocol, the intent on disk before the request leaves, is the `IntentLog` the venue is given:
`engine.live.journal.Journal` is one (the venue cannot import it: the journal sits above the venues).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from engine.core.ids import client_order_id, parse_client_id, scope_tag
from engine.core.orders import Order

__all__ = ["BookedFill", "IntentLog", "JournaledOrder", "Phase", "ProofPolicy", "Submission", "Verdict",
           "intent_of", "next_attempt"]

MAX_RECV_WINDOW_MS = 60_000  # the largest recvWindow Binance accepts


class IntentLog(Protocol):
    """Where intents go before their request leaves, and the request's particulars (its `timestamp` and
    `recvWindow`, then the venue's answer) beside them, so a restarted runner can still prove an order absent."""

    def record_intent(self, deployment: str, order: Order, ts_ms: int) -> None: ...

    def note_venue_state(self, client_id: str, state: Mapping[str, Any], ts_ms: int) -> None: ...


class JournaledOrder(Protocol):
    """An order as the journal kept it (`engine.live.journal.OrderRecord` is one)."""

    client_id: str
    symbol: str
    side: int
    type: Any
    tif: Any
    qty: float
    quote_qty: float | None
    limit_px: float | None
    stop_px: float | None
    reduce_only: bool
    status: Any
    venue_order_id: str | None
    filled_qty: float
    venue_state: dict[str, Any] | None
    intent_ms: int

    @property
    def is_open(self) -> bool: ...


class BookedFill(Protocol):
    """A fill the journal booked (`engine.live.journal.FillRecord` is one)."""

    client_id: str
    trade_id: str


class Phase(StrEnum):
    SENDING = "sending"  # journaled; the request is leaving or has left, no word back yet
    UNKNOWN = "unknown"  # it left, and nothing said what became of it: to be looked up, never rejected
    PLACED = "placed"  # the exchange has it
    REFUSED = "refused"  # the exchange said no
    ABSENT = "absent"  # proven never placed


class Verdict(StrEnum):
    FOUND = "found"
    ABSENT = "absent"
    LOOK_AGAIN = "look again"


@dataclass(frozen=True, slots=True)
class ProofPolicy:
    """When "not found" means "never placed", and how patiently to look. Durations are wall time (the
    network's); `speed` is how much faster the venue's clock runs (an accelerated emulator, whose recvWindow
    is a wall-time allowance), so the deadline on its clock is `timestamp + (recvWindow + margin) × speed`."""

    recv_window_ms: int = 5_000  # sent with every signed request
    margin_ms: int = 5_000  # beyond it: the exchange's queueing and its database lag
    confirmations: int = 3  # counted misses that prove an order absent
    spacing_s: float = 1.0  # at least this between counted look-ups (and the cap of the backoff before)
    patience_s: float = 60.0  # one resolution pass looks this long, then leaves the order unknown
    speed: float = 1.0
    max_attempts: int = 3  # attempts of one intent (the first and its resends)

    def __post_init__(self) -> None:
        if not 0 < self.recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recvWindow must be in (0, {MAX_RECV_WINDOW_MS}] ms, got {self.recv_window_ms}")
        if self.margin_ms < 0 or self.confirmations < 1 or self.spacing_s <= 0 or self.speed <= 0:
            raise ValueError("a proof needs a non-negative margin, at least one confirmation, a positive spacing "
                             f"and speed (got {self.margin_ms}, {self.confirmations}, {self.spacing_s}, {self.speed})")
        if self.max_attempts < 1:
            raise ValueError(f"an intent needs at least one attempt, got {self.max_attempts}")

    def deadline_ms(self, timestamp_ms: int, recv_window_ms: int = 0) -> int:
        """The venue time after which a request signed at `timestamp_ms` can no longer be acted on, margin
        included (the larger of its own recvWindow and the policy's)."""
        window = max(self.recv_window_ms, recv_window_ms)
        return timestamp_ms + int((window + self.margin_ms) * self.speed)


@dataclass(slots=True)
class Submission:
    """One attempt: its order (whose client id is the one on the exchange), the latest request's timestamp,
    its phase, and what of it has been reported as events (so each fact is reported once)."""

    order: Order
    timestamp_ms: int
    recv_window_ms: int
    phase: Phase = Phase.SENDING
    exists: bool = False  # the exchange said it has it: misses never prove it absent
    misses: int = 0
    venue_order_id: str = ""
    accepted: bool = False  # OrderAccepted reported
    closed: bool = False  # its last event (filled, cancelled, rejected) reported
    reported: set[str] = field(default_factory=set)  # venue trade ids reported as fills
    reported_qty: Decimal = Decimal(0)
    cancel_reason: str = ""  # why we asked to cancel it (its OrderCancelled says so)
    last_px: float = 0.0  # the last close the decision saw: a resend's market notional is judged at it
    trail: list[str] = field(default_factory=list)  # what happened, in words, for logs and tests

    @property
    def client_id(self) -> str:
        return self.order.client_id

    @property
    def symbol(self) -> str:
        return self.order.symbol

    def sent(self, timestamp_ms: int, recv_window_ms: int) -> None:
        self.timestamp_ms, self.recv_window_ms, self.phase = timestamp_ms, recv_window_ms, Phase.SENDING
        self.trail.append(f"sent at venue time {timestamp_ms} (recvWindow {recv_window_ms} ms)")

    def unknown(self, cause: str, *, exists: bool = False) -> None:
        self.phase, self.exists = Phase.UNKNOWN, self.exists or exists
        self.trail.append(f"unknown: {cause}")

    def placed(self, venue_order_id: str, how: str) -> None:
        self.phase, self.venue_order_id, self.exists = Phase.PLACED, venue_order_id, True
        self.trail.append(f"placed as {venue_order_id}: {how}")

    def refused(self, reason: str) -> None:
        self.phase, self.closed = Phase.REFUSED, True
        self.trail.append(f"refused: {reason}")

    def observe(self, found: bool, venue_ms: int, policy: ProofPolicy) -> Verdict:
        """A look-up by client id, made after the venue's clock read `venue_ms`: what it proves."""
        if found:
            return Verdict.FOUND
        deadline = policy.deadline_ms(self.timestamp_ms, self.recv_window_ms)
        if self.exists or venue_ms <= deadline:
            why = "the exchange said it exists" if self.exists else f"{deadline - venue_ms} ms before the deadline"
            self.trail.append(f"not found at venue time {venue_ms} ({why}): not counted")
            return Verdict.LOOK_AGAIN
        self.misses += 1
        self.trail.append(f"not found at venue time {venue_ms}, past the deadline {deadline}: miss {self.misses} "
                          f"of {policy.confirmations}")
        if self.misses < policy.confirmations:
            return Verdict.LOOK_AGAIN
        self.phase = Phase.ABSENT
        return Verdict.ABSENT

    def proof(self, policy: ProofPolicy) -> str:
        """Why an absent order is absent, in words (the reason its attempt is closed with)."""
        return (f"never placed: not found by client id in {self.misses} look-ups after its request's recvWindow "
                f"closed (deadline {policy.deadline_ms(self.timestamp_ms, self.recv_window_ms)} on the venue's "
                f"clock, margin included)")

    def unreported(self, trade_ids: Iterable[str]) -> list[str]:
        """The trade ids not yet reported, now marked reported: a fill is reported once, whoever asks."""
        fresh = [t for t in trade_ids if t not in self.reported]
        self.reported.update(fresh)
        return fresh


def intent_of(client_id: str) -> tuple[str, int, str] | None:
    """(scope tag, decision time, role): what every attempt of one intent shares, so a runner can tell that
    `…-e1` is the resend of `…-e0`. None for an id gauntlet did not make."""
    parsed = parse_client_id(client_id)
    return None if parsed is None else (parsed.scope, parsed.decided_ms, parsed.role)


def next_attempt(client_id: str, deployment: str) -> tuple[str, int] | None:
    """The client id of the next attempt of the same intent, and its attempt number; None when the id is not
    one of `deployment`'s (a resend is only ever made under our own name)."""
    parsed = parse_client_id(client_id)
    if parsed is None or parsed.scope != scope_tag(deployment):
        return None
    attempt = parsed.attempt + 1
    return client_order_id(deployment, parsed.decided_ms, parsed.role, attempt), attempt
