"""The pure core every environment drives: no I/O, no clock reads, nothing else from `engine` imported."""

from engine.core.events import (BarClosed, Decided, Event, InterestCharged, OrderAccepted, OrderCancelled,
                                OrderFilled, OrderRejected, OrderSubmitted, RiskChecked)
from engine.core.ids import ClientId, client_order_id, parse_client_id, scope_tag

__all__ = ["BarClosed", "ClientId", "Decided", "Event", "InterestCharged", "OrderAccepted", "OrderCancelled",
           "OrderFilled", "OrderRejected", "OrderSubmitted", "RiskChecked", "client_order_id", "parse_client_id",
           "scope_tag"]
