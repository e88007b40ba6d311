"""Snapshots: the state of the books as plain JSON-able values, and back. Recovery is "load the last
snapshot, apply what happened after it"; a snapshot must therefore rebuild state that continues exactly as
the original would have (a property test cuts a replay anywhere, rebuilds, continues and compares).

Floats go through JSON as their shortest round-trip repr (Python's `json` writes `repr(float)`), so a
rebuilt ledger holds bit-identical numbers; NaN (no stop) is written as JSON's NaN extension.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.core.ledger import Fill, Ledger, RoundTrip
from engine.core.orders import Order, OrderStatus, OrderType, TimeInForce
from engine.core.risk import RiskBook, RiskConfig

__all__ = ["book_from", "book_state", "fill_from", "ledger_from", "ledger_state", "order_from", "order_state"]

_BOOK_STATE = ("peak", "day", "day_start", "streak", "cooldown_until_ms", "last_equity", "pnls")


def order_state(order: Order) -> dict[str, Any]:
    state = {f.name: getattr(order, f.name) for f in dataclasses.fields(Order)}
    state["type"], state["tif"], state["status"] = order.type.value, order.tif.value, order.status.value
    return state


def order_from(state: dict[str, Any]) -> Order:
    values = dict(state)
    values["type"], values["tif"] = OrderType(values["type"]), TimeInForce(values["tif"])
    status = OrderStatus(values.pop("status"))
    order = Order(**values)
    order.status = status
    return order


def fill_from(values: list[Any]) -> Fill:
    return Fill(*values)


def ledger_state(ledger: Ledger) -> dict[str, Any]:
    state = {f.name: getattr(ledger, f.name) for f in dataclasses.fields(Ledger)}
    state["round_trips"] = [list(trip) for trip in ledger.round_trips]
    state["balances"], state["marks"] = dict(ledger.balances), dict(ledger.marks)
    return state


def ledger_from(state: dict[str, Any]) -> Ledger:
    values = dict(state)
    values["round_trips"] = [RoundTrip(*trip) for trip in values["round_trips"]]
    return Ledger(**values)


def book_state(book: RiskBook | None) -> dict[str, Any] | None:
    return None if book is None else {name: getattr(book, name) for name in _BOOK_STATE} | {"pnls": list(book.pnls)}


def book_from(risk: RiskConfig | None, state: dict[str, Any] | None) -> RiskBook | None:
    if risk is None or state is None:
        return None
    return RiskBook(risk.limits, risk.sizing, **state)
