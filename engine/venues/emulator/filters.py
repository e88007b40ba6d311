"""Binance's symbol filters, checked as the exchange checks a new order: exact decimals, answered in its
words ("Filter failure: LOT_SIZE"). The values are the ones exchangeInfo serves (`binance_wire.SymbolFilters`),
so what a client reads from the market is what the emulator enforces."""

from __future__ import annotations

from decimal import Decimal

from engine.venues.binance_wire import BinanceError, SymbolFilters
from engine.venues.emulator.records import OrderRequest


def check_filters(rules: SymbolFilters, order: OrderRequest, ref_px: Decimal) -> None:
    """PRICE_FILTER on the price and stop price, LOT_SIZE on the quantity, NOTIONAL on price × quantity (a
    market order's at the reference price, as Binance uses its recent average; a quote order's is its quote)."""
    for px in (order.price, order.stop_px):
        if px is not None and not _on_grid(px, Decimal(rules.min_price), Decimal(rules.max_price),
                                           Decimal(rules.tick_size)):
            raise BinanceError("filter", name="PRICE_FILTER")
    if order.qty is not None and not _on_grid(order.qty, Decimal(rules.min_qty), Decimal(rules.max_qty),
                                              Decimal(rules.step_size)):
        raise BinanceError("filter", name="LOT_SIZE")
    if order.quote_qty is not None:
        notional = order.quote_qty
    else:
        notional = (order.qty or Decimal(0)) * (order.price if order.price is not None else ref_px)
    if notional < Decimal(rules.min_notional) or (order.type != "MARKET" and notional > Decimal(rules.max_notional)):
        raise BinanceError("filter", name="NOTIONAL")


def _on_grid(value: Decimal, low: Decimal, high: Decimal, step: Decimal) -> bool:
    """Within [low, high] and a whole number of steps from `low` (Binance's rule for ticks and lots)."""
    return low <= value <= high and (step == 0 or (value - low) % step == 0)
