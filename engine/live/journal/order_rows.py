"""An order's row: the intent as it is written before the request leaves, and what each of the venue's
events does to it.

The row is the venue's last word, not a judge of it. `engine.core.orders.Order` is the state machine and the
loop refuses an impossible move; the journal records facts and never refuses one. So a row only moves
forward (submitted -> accepted -> partially filled -> filled, rejected or cancelled), a terminal status is
final, and a late event (an acknowledgement after the fill) fills in what it adds (the venue's id) without
moving the status back. On every sequence the state machine accepts, the row's status is the machine's (a
property test holds it).
"""

from __future__ import annotations

from typing import Any

from engine.core.orders import TERMINAL, Order, OrderStatus, OrderType, TimeInForce

__all__ = ["INTENT_COLUMNS", "intent_row", "row_after"]

INTENT_COLUMNS = ("deployment", "symbol", "side", "type", "tif", "qty", "quote_qty", "limit_px", "stop_px", "reduce_only")
_S = OrderStatus
_BEFORE_FILLS = frozenset({_S.PENDING, _S.SUBMITTED, _S.ACCEPTED})
_ENDS = {"order_rejected": _S.REJECTED, "order_cancelled": _S.CANCELLED}


def intent_row(deployment: str, order: Order, ts_ms: int) -> dict[str, Any]:
    """The row of an order about to be sent: SUBMITTED, because once the request has left, only the venue
    knows whether it exists; a crash before its answer leaves it SUBMITTED with no venue id, to be looked up."""
    return {"client_id": order.client_id, "deployment": deployment, "symbol": order.symbol, "side": order.side,
            "type": OrderType(order.type).value, "tif": TimeInForce(order.tif).value, "qty": order.qty,
            "quote_qty": order.quote_qty, "limit_px": order.limit_px, "stop_px": order.stop_px,
            "reduce_only": order.reduce_only, "status": _S.SUBMITTED.value, "venue_order_id": order.venue_order_id or None,
            "filled_qty": 0.0, "reason": "", "venue_state": None, "intent_ms": ts_ms, "updated_ms": ts_ms}


def row_after(row: dict[str, Any], event: Any) -> dict[str, Any]:
    """`row` once the venue's `event` about its order is taken (an `order_filled` one is new: never booked)."""
    status, kind = OrderStatus(row["status"]), event.kind
    changes: dict[str, Any] = {"updated_ms": max(row["updated_ms"], event.ts_ms)}
    if kind == "order_accepted":
        changes["venue_order_id"] = event.venue_order_id
        if status in (_S.PENDING, _S.SUBMITTED):
            changes["status"] = _S.ACCEPTED.value
    elif kind == "order_filled":
        changes["filled_qty"] = row["filled_qty"] + event.qty
        if event.done and status not in TERMINAL:
            changes["status"] = _S.FILLED.value
        elif status in _BEFORE_FILLS:
            changes["status"] = _S.PARTIALLY_FILLED.value
    elif kind in _ENDS and status not in TERMINAL:
        changes.update(status=_ENDS[kind].value, reason=event.reason)
    elif kind == "order_submitted" and status is _S.PENDING:
        changes["status"] = _S.SUBMITTED.value
    return {**row, **changes}
