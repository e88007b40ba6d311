"""ccxt's unified orders and trades turned into what the engine speaks: events about our orders (each fact
once), `Order` copies, and fills with the venue's trade id and the fee in the asset the exchange charged.

`progress` is pure: given what the exchange says of an order now (and its trades), it returns the events not
yet reported and marks them reported on the `Submission`. A fill is reported once per venue trade id; the
last one says `done` only when the exchange says the order is filled and the reported quantity reaches what
it says was filled; a cancelled, expired or rejected order's closing event comes after all of its fills.
Quantities are compared as `Decimal` (ccxt parses Binance's 8-decimal strings into floats that print back
exactly).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from engine.core.events import Event, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected
from engine.core.ledger import FEE_IN_BASE, FEE_IN_QUOTE, Fill
from engine.core.orders import Order, OrderStatus, OrderType, TimeInForce
from engine.venues.submission import Submission

__all__ = ["VenueFill", "dec", "fill_of", "order_of", "progress"]

_ENDED = ("canceled", "expired", "rejected")


class VenueFill(NamedTuple):
    """One of our trades as the exchange reports it: its trade id, our client id, the market and the venue's
    order id, then the fill (base `qty` at `px`, `fee` in `fee_asset`, the currency code charged, worth
    `fee_px` quote a unit where known: 1 for the quote, the price for the base, 0 for a third asset)."""

    trade_id: str
    client_id: str
    symbol: str
    venue_order_id: str
    ts_ms: int
    side: int
    qty: float
    px: float
    fee: float
    fee_asset: str
    fee_px: float

    def as_fill(self, bar: int = -1) -> Fill:
        """The ledger's record (its fee asset `quote`, `base` or a third asset's code)."""
        base, quote = self.symbol.split(":")[0].split("/")
        asset = FEE_IN_QUOTE if self.fee_asset == quote else FEE_IN_BASE if self.fee_asset == base else self.fee_asset
        return Fill(self.client_id, bar, self.ts_ms, self.side, self.qty, self.px, self.fee, asset, self.fee_px)


def dec(value: Any) -> Decimal:
    """A ccxt number (float, str or None) as the decimal it prints as."""
    return Decimal(str(value)) if value is not None else Decimal(0)


def progress(sub: Submission, order: dict[str, Any], trades: list[dict[str, Any]], now_ms: int) -> list[Event]:
    """The events `order` (ccxt's, now) and `trades` (all of its trades the exchange shows) add to what `sub`
    has reported."""
    cid, events = sub.client_id, []
    ts = int(order.get("timestamp") or now_ms)
    if not sub.accepted:
        sub.accepted, sub.venue_order_id = True, str(order["id"])
        events.append(OrderAccepted(ts, cid, str(order["id"])))
    status, filled = order.get("status"), dec(order.get("filled"))
    by_id = {str(t["id"]): t for t in trades}
    fresh = set(sub.unreported(by_id))
    cum = max(sub.reported_qty, sum((dec(t["amount"]) for i, t in by_id.items() if i not in fresh), Decimal(0)))
    for trade in sorted((by_id[i] for i in fresh), key=lambda t: (t.get("timestamp") or 0, str(t["id"]))):
        cum += dec(trade["amount"])
        done = status == "closed" and cum >= filled
        events.append(_filled(cid, trade, ts, done, order.get("symbol") or sub.symbol))
        sub.closed = sub.closed or done
    sub.reported_qty = cum
    if not sub.closed and status in _ENDED and cum >= filled:
        sub.closed = True
        update = int(order.get("lastUpdateTimestamp") or order.get("lastTradeTimestamp") or now_ms)
        events.append(_ended(cid, status, update, sub, order))
    return events


def _filled(cid: str, trade: dict[str, Any], ts: int, done: bool, symbol: str) -> OrderFilled:
    fee = trade.get("fee") or {}
    asset = fee.get("currency") or symbol.split("/")[1].split(":")[0]
    return OrderFilled(int(trade.get("timestamp") or ts), cid, float(dec(trade["amount"])), float(dec(trade["price"])),
                       float(dec(fee.get("cost"))), asset, str(trade["id"]), done)


def _ended(cid: str, status: str, ts: int, sub: Submission, order: dict[str, Any]) -> Event:
    if status == "rejected":
        return OrderRejected(ts, cid, "rejected by the exchange after it was accepted")
    if status == "expired":
        return OrderCancelled(ts, cid, f"expired: the exchange ended it with {dec(order.get('filled'))} of "
                                       f"{dec(order.get('amount'))} filled (immediate-or-cancel, or a market order's rest)")
    return OrderCancelled(ts, cid, sub.cancel_reason or "cancelled at the exchange (not by this deployment)")


def fill_of(trade: dict[str, Any], client_id: str) -> VenueFill:
    """One of ccxt's `fetch_my_trades` entries as a `VenueFill` of the order named `client_id`."""
    fee = trade.get("fee") or {}
    symbol, px = trade["symbol"], float(dec(trade["price"]))
    base, quote = symbol.split(":")[0].split("/")
    asset = fee.get("currency") or quote
    fee_px = 1.0 if asset == quote else px if asset == base else 0.0
    return VenueFill(str(trade["id"]), client_id, symbol, str(trade.get("order") or ""), int(trade["timestamp"]),
                     1 if trade["side"] == "buy" else -1, float(dec(trade["amount"])), px, float(dec(fee.get("cost"))),
                     asset, fee_px)


def order_of(order: dict[str, Any]) -> Order:
    """ccxt's unified order as the engine's `Order` (the exchange's copy: status, fills, average, fees)."""
    info = order.get("info") or {}
    quote = dec(info.get("origQuoteOrderQty"))
    stop = order.get("triggerPrice") or order.get("stopPrice")
    kind = OrderType.STOP if stop else OrderType.MARKET if order.get("type") == "market" else OrderType.LIMIT
    copy = Order(str(order.get("clientOrderId") or order["id"]), order["symbol"], 1 if order["side"] == "buy" else -1,
                 0.0 if quote > 0 else float(dec(order.get("amount"))), kind,
                 quote_qty=float(quote) if quote > 0 else None,
                 limit_px=float(order["price"]) if order.get("price") and order.get("type") != "market" else None,
                 stop_px=float(stop) if stop else None,
                 tif=TimeInForce.IOC if order.get("timeInForce") in ("IOC", "FOK") else TimeInForce.GTC)
    copy.status = _status(order)
    copy.filled_qty, copy.avg_px = float(dec(order.get("filled"))), float(dec(order.get("average")))
    copy.spent, copy.fees = float(dec(order.get("cost"))), float(dec((order.get("fee") or {}).get("cost")))
    copy.venue_order_id = str(order["id"])
    return copy


def _status(order: dict[str, Any]) -> OrderStatus:
    status = order.get("status")
    if status == "open":
        return OrderStatus.PARTIALLY_FILLED if dec(order.get("filled")) > 0 else OrderStatus.ACCEPTED
    return {"closed": OrderStatus.FILLED, "rejected": OrderStatus.REJECTED}.get(status, OrderStatus.CANCELLED)
