"""The pure core every environment drives: the loop, its events and commands, orders, ids, the ledger, risk,
costs, matching, market rules, snapshots.
No I/O, no clock reads, nothing else from `engine` imported (a test and the import-linter layers hold it)."""

from engine.core.calendar import DAY_MS, YEAR_MS
from engine.core.commands import CancelOrder, Command, SubmitOrder
from engine.core.costs import Costs
from engine.core.events import (BarClosed, Decided, Event, FlattenOrdered, InterestCharged, OrderAccepted, OrderCancelled,
                                OrderFilled, OrderRejected, OrderSubmitted, RiskChecked)
from engine.core.ids import ClientId, client_order_id, parse_client_id, scope_tag
from engine.core.ledger import Fill, Ledger, RoundTrip
from engine.core.loop import Decision, Loop, LoopConfig, Signal, target_of
from engine.core.market_rules import MarketRules
from engine.core.matching import REFUSALS, Account, Candle, Matcher
from engine.core.orders import Order, OrderStatus, OrderType, TimeInForce
from engine.core.realism import Realism
from engine.core.risk import RiskBook, RiskConfig, RiskLimits, Sizing

__all__ = ["Account", "BarClosed", "CancelOrder", "Candle", "Command", "Decision", "Loop", "LoopConfig", "Matcher",
           "REFUSALS", "Signal", "SubmitOrder", "target_of", "ClientId", "Costs", "DAY_MS", "Decided", "Event", "Fill", "FlattenOrdered", "InterestCharged", "Ledger",
           "MarketRules", "Order", "OrderAccepted", "OrderCancelled", "OrderFilled", "OrderRejected", "OrderStatus",
           "OrderSubmitted", "OrderType", "Realism", "RiskBook", "RiskChecked", "RiskConfig", "RiskLimits",
           "RoundTrip", "Sizing", "TimeInForce", "YEAR_MS", "client_order_id", "parse_client_id", "scope_tag"]
