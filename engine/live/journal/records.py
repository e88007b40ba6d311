"""What the journal hands back: typed, frozen records, one per kind of row. None carries a credential: an
order is what was asked of the venue, a fill what the venue reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.events import Event, OrderFilled
from engine.core.orders import TERMINAL, OrderStatus, OrderType, TimeInForce

__all__ = ["Appended", "Entry", "EquityMark", "FillRecord", "Heartbeat", "OrderRecord", "Snapshot", "Start"]


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as journaled: the intent as sent, then what the venue last said about it."""

    client_id: str
    deployment: str
    symbol: str
    side: int  # +1 buy, -1 sell
    type: OrderType
    tif: TimeInForce
    qty: float  # base; 0 for a quote order
    quote_qty: float | None
    limit_px: float | None
    stop_px: float | None
    reduce_only: bool
    status: OrderStatus  # SUBMITTED until the venue answers: with no venue id after a crash, it is unknown
    venue_order_id: str | None
    filled_qty: float  # base, the sum of its booked fills
    reason: str  # why it was rejected or cancelled
    venue_state: dict[str, Any] | None  # the venue's last raw description (ccxt's `info`)
    intent_ms: int  # when the intent was journaled
    updated_ms: int  # the last event or venue state about it

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def unanswered(self) -> bool:
        """Sent (or about to be) with no word from the venue since: whether it exists is unknown until it is
        looked up by client id, and it is never resent under the same id."""
        return self.status is OrderStatus.SUBMITTED and self.venue_order_id is None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OrderRecord:
        return cls(**{**row, "type": OrderType(row["type"]), "tif": TimeInForce(row["tif"]),
                      "status": OrderStatus(row["status"]), "reduce_only": bool(row["reduce_only"])})


@dataclass(frozen=True, slots=True)
class FillRecord:
    """A booked fill: `qty` base at `px`, `fee` in `fee_asset`; `trade_id` is the venue's and books it once."""

    deployment: str
    symbol: str
    trade_id: str
    client_id: str
    qty: float
    px: float
    fee: float
    fee_asset: str
    ts_ms: int
    seq: int  # the order_filled event that booked it


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled event and its place in the sequence."""

    seq: int
    deployment: str
    event: Event


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A deployment's books as of event `seq` (included): recovery folds only the events after it."""

    deployment: str
    seq: int
    state: dict[str, Any]
    created_ms: int


@dataclass(frozen=True, slots=True)
class EquityMark:
    """A deployment's value at `ts_ms`: equity = cash + position × price, position in base (signed)."""

    ts_ms: int
    equity: float
    cash: float
    position: float


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a deployment's runner last said about it: `state` (running, stopped, halted), when the process took
    it up and last showed life (wall time, ms), the open time of the last candle it finished, its pid, and why
    it stopped or halted (`detail`)."""

    state: str
    started_ms: int
    heartbeat_ms: int
    last_candle_ms: int | None = None
    pid: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Start:
    """A process took a deployment up at `started_ms` (wall time), after the candle opening at `last_candle_ms`
    (None: it had handled none, a first start); kept for every start, from its first heartbeat."""

    started_ms: int
    last_candle_ms: int | None
    pid: int | None


@dataclass(frozen=True, slots=True)
class Appended:
    """What one `append` wrote: the seqs of its events, and the fills it did not book because their venue
    trade id was booked already (a reconciliation reading the same trades twice, a repeated report)."""

    seqs: tuple[int, ...]
    duplicates: tuple[OrderFilled, ...]
