"""An order as the exchange will read it: amounts and prices through ccxt's own precision functions (an amount
truncated to the lot step, never rounded up into money the account lacks; a price rounded as the market's
mode says), compared as `Decimal`, and refused here, without a request, when it would break a filter after
rounding, in the exchange's words ("Filter failure: LOT_SIZE", "... PRICE_FILTER", "... NOTIONAL").

The strings built here are the ones sent: ccxt applies the same rounding again, which leaves them unchanged.
A market order's notional is judged at the last close the decision saw (Binance judges it at its recent
average price): a borderline one is left for the exchange to refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt
from ccxt.base.decimal_to_precision import TRUNCATE

from engine.core.orders import Order, OrderType, TimeInForce

__all__ = ["FilterRefused", "Filters", "Request", "prepare"]

LOT_SIZE, PRICE_FILTER, NOTIONAL = ("Filter failure: LOT_SIZE", "Filter failure: PRICE_FILTER",
                                    "Filter failure: NOTIONAL")


class FilterRefused(ValueError):
    """The order would break one of the market's filters after rounding: `reason` is the exchange's wording,
    `detail` the figures."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason} ({detail})")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True, slots=True)
class Filters:
    """A market's limits as ccxt reports them (Binance's LOT_SIZE, PRICE_FILTER and NOTIONAL), exact."""

    min_qty: Decimal
    max_qty: Decimal | None
    min_px: Decimal
    max_px: Decimal | None
    min_notional: Decimal
    max_notional: Decimal | None

    @classmethod
    def of(cls, market: dict[str, Any]) -> Filters:
        limits = market.get("limits") or {}
        amount, price, cost = (limits.get(name) or {} for name in ("amount", "price", "cost"))
        return cls(_dec(amount.get("min")), _dec_or_none(amount.get("max")), _dec(price.get("min")),
                   _dec_or_none(price.get("max")), _dec(cost.get("min")), _dec_or_none(cost.get("max")))


@dataclass(frozen=True, slots=True)
class Request:
    """What `create_order` is called with: ccxt's order type and side, the amount and price as decimal
    strings (None where the type has none), and the extra parameters (time in force, stop, quote amount)."""

    symbol: str
    type: str
    side: str
    amount: str | None
    price: str | None
    params: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, str]:
        """The request's figures, for the journal's note beside the intent."""
        return {k: v for k, v in (("type", self.type), ("side", self.side), ("amount", self.amount),
                                  ("price", self.price)) if v is not None} | self.params


def prepare(exchange: Any, order: Order, last_px: float) -> Request:
    """`order` in the market's precision, checked against its filters; `FilterRefused` if it breaks one."""
    symbol, side = order.symbol, "buy" if order.side > 0 else "sell"
    filters = Filters.of(exchange.market(symbol))
    price = _price(exchange, symbol, order.limit_px, filters)
    stop = _price(exchange, symbol, order.stop_px, filters)
    params: dict[str, str] = {} if stop is None else {"stopLossPrice": str(stop)}  # a stop trades against us
    if order.type is not OrderType.MARKET and price is not None:
        params["timeInForce"] = "IOC" if order.tif is TimeInForce.IOC else "GTC"
    kind = "market" if price is None else "limit"
    if order.quote_qty is not None:
        cost = _cost(exchange, symbol, order.quote_qty, filters)
        return Request(symbol, kind, side, None, None, params | {"quoteOrderQty": str(cost)})
    amount = _amount(exchange, symbol, order.qty, filters)
    notional = amount * (price if price is not None else Decimal(repr(last_px)))
    if notional < filters.min_notional:
        raise FilterRefused(NOTIONAL, f"value {notional} below the minimum {filters.min_notional}")
    if price is not None and filters.max_notional and notional > filters.max_notional:
        raise FilterRefused(NOTIONAL, f"value {notional} above the maximum {filters.max_notional}")
    return Request(symbol, kind, side, str(amount), None if price is None else str(price), params)


def _amount(exchange: Any, symbol: str, qty: float, filters: Filters) -> Decimal:
    return _rounded(exchange.amount_to_precision, symbol, qty, (LOT_SIZE, "amount", "lot step"),
                    (filters.min_qty, filters.max_qty))


def _price(exchange: Any, symbol: str, px: float | None, filters: Filters) -> Decimal | None:
    if px is None:
        return None
    return _rounded(exchange.price_to_precision, symbol, px, (PRICE_FILTER, "price", "tick"),
                    (filters.min_px, filters.max_px))


def _rounded(to_precision: Any, symbol: str, value: float, words: tuple[str, str, str],
             bounds: tuple[Decimal, Decimal | None]) -> Decimal:
    """`value` through ccxt's precision function, inside `bounds` (no upper one: None), or `FilterRefused`
    with the filter's name; `words` are (filter, what, its step)."""
    name, what, step = words
    low, high = bounds
    try:
        rounded = Decimal(to_precision(symbol, value))
    except ccxt.InvalidOrder:  # rounded to nothing
        raise FilterRefused(name, f"{what} {value!r} is less than one {step}") from None
    if rounded < low or (high and rounded > high):
        raise FilterRefused(name, f"{what} {rounded} outside [{low}, {high}]")
    return rounded


def _cost(exchange: Any, symbol: str, quote_qty: float, filters: Filters) -> Decimal:
    """A quote amount truncated as ccxt's binance truncates `quoteOrderQty` (to the price's precision)."""
    market = exchange.market(symbol)
    cost = Decimal(exchange.decimal_to_precision(quote_qty, TRUNCATE, market["precision"]["price"],
                                                 exchange.precisionMode))
    if cost < filters.min_notional:
        raise FilterRefused(NOTIONAL, f"quote amount {cost} below the minimum {filters.min_notional}")
    return cost


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _dec_or_none(value: Any) -> Decimal | None:
    return Decimal(str(value)) if value else None
