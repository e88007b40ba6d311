"""A market's exchange rules, read from ccxt's market structure: amount step, price tick, min/max amount,
min notional, and whether it lends for shorts. Quantities are truncated to the step as ccxt's `amount_to_precision` does before sending;
what still breaks a rule is rejected with the exchange's own filter name."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def _decimals(step: float) -> int:
    return max(0, -int(math.floor(math.log10(step)))) if step > 0 else 12


@dataclass(frozen=True, slots=True)
class MarketRules:
    symbol: str
    qty_step: float = 0.0  # 0: any amount
    px_tick: float = 0.0  # 0: any price
    min_qty: float = 0.0
    max_qty: float = math.inf
    min_notional: float = 0.0
    margin: bool = True  # the exchange lends for shorts (Binance: isMarginTradingAllowed)

    @property
    def quote_asset(self) -> str:
        """The currency prices and fees are in: `USDT` of `BTC/USDT` (and of `BTC/USDT:USDT`)."""
        return self.symbol.partition("/")[2].split(":")[0] or "quote"

    @classmethod
    def from_ccxt(cls, market: dict[str, Any]) -> MarketRules:
        """From a ccxt unified market (precision in TICK_SIZE mode, as Binance reports it)."""
        precision, limits = market.get("precision") or {}, market.get("limits") or {}
        amount, cost = limits.get("amount") or {}, limits.get("cost") or {}
        return cls(symbol=market["symbol"], qty_step=float(precision.get("amount") or 0.0),
                   px_tick=float(precision.get("price") or 0.0), min_qty=float(amount.get("min") or 0.0),
                   max_qty=float(amount.get("max") or math.inf), min_notional=float(cost.get("min") or 0.0),
                   margin=market.get("margin") is not False)  # unknown (not recorded): assumed to lend

    def round_qty(self, qty: float) -> float:
        """Truncate to the amount step (never round up: that could spend cash the account does not have)."""
        if self.qty_step <= 0:
            return qty
        steps = math.floor(qty / self.qty_step + 1e-9)
        return round(steps * self.qty_step, _decimals(self.qty_step))

    def round_px(self, px: float, side: int) -> float:
        """To the tick, against the trader: a buy's price up, a sell's down."""
        if self.px_tick <= 0:
            return px
        ticks = math.ceil(px / self.px_tick - 1e-9) if side > 0 else math.floor(px / self.px_tick + 1e-9)
        return round(ticks * self.px_tick, _decimals(self.px_tick))

    def violation(self, qty: float, px: float) -> str | None:
        """Why the exchange would reject this order, in its words, or None."""
        if qty <= 0 or qty < self.min_qty:
            return f"Filter failure: LOT_SIZE (amount {qty:g} below the minimum {self.min_qty:g} {self.symbol})"
        if qty > self.max_qty:
            return f"Filter failure: LOT_SIZE (amount {qty:g} above the maximum {self.max_qty:g})"
        if qty * px < self.min_notional:
            return f"Filter failure: NOTIONAL (value {qty * px:.4f} below the minimum {self.min_notional:g})"
        return None


def unrestricted(symbol: str) -> MarketRules:
    return MarketRules(symbol)


# What a Binance spot */USDT market looked like when no exchange data is at hand (the emulator serves the same).
DEFAULT_SPOT = {"precision": {"amount": 1e-05, "price": 0.01}, "limits": {"amount": {"min": 1e-05, "max": 9000.0},
                                                                           "cost": {"min": 5.0}}}


def rules_from_sources(symbol: str, sources: tuple[dict, ...]) -> tuple[MarketRules, str]:
    """The rules the exchange reported when the candles were fetched, else Binance-like defaults; with where
    they came from."""
    for source in reversed(sources):
        market = source.get("market")
        if market:
            return MarketRules.from_ccxt({**market, "symbol": symbol}), f"{source.get('exchange')} market data"
    return MarketRules.from_ccxt({**DEFAULT_SPOT, "symbol": symbol}), "default Binance spot filters (no market data cached)"
