"""Matching one order against one closed candle, the way an exchange would, with the realism the caller
switches on (exchange filters, a participation cap with partial fills, volume impact). It is the fill model
every simulated venue shares: `engine.sim` (replay and paper) and the loopback emulator in `engine.venues`.

It sees one candle at a time and never a later one; the only state it keeps is how much of the current
candle's volume orders have already taken. Every price and quantity comes from `engine.core.costs_nb`, the
sweep's formulas: with realism off, a fill here is the fill vectorbt computes. Refusals use Binance's words.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

from engine.core.costs import Costs
from engine.core.costs_nb import fill_px_nb, spend_all_nb
from engine.core.ledger import FEE_IN_QUOTE, Fill
from engine.core.market_rules import MarketRules
from engine.core.orders import Order, OrderType
from engine.core.realism import Realism

INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."  # Binance's -2010
NO_MARGIN = "Margin account are not allowed to trade this trading pair."  # Binance's -3021
NOTHING_TO_REDUCE = "ReduceOnly Order is rejected."  # Binance's -2022: no position on the other side
NO_VOLUME_LEFT = "no volume left on this bar"
NOT_TRIGGERED = "not triggered on this bar"
# what the exchange refuses outright, as opposed to "not on this bar"
REFUSALS = ("Filter failure", INSUFFICIENT_BALANCE, NO_MARGIN, NOTHING_TO_REDUCE)

# The kernels' own Python bodies: the same formulas, without numba's call overhead on one scalar at a time.
fill_px, spend_all = fill_px_nb.py_func, spend_all_nb.py_func
_new_tuple = tuple.__new__  # builds a Fill without NamedTuple's Python-level __new__


class Candle(NamedTuple):
    """One closed bar as a venue learns it: open time (UTC ms) and its prices and base volume."""

    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class Account(Protocol):
    """What matching needs of the account an order trades for (a `Ledger` is one)."""

    cash: float
    qty: float

    @property
    def free_cash(self) -> float: ...


class Matcher:
    """One market's matching for one venue: prices fills along the pessimistic intrabar path and remembers
    how much of the current candle's volume orders have already taken."""

    def __init__(self, costs: Costs, realism: Realism, rules: MarketRules) -> None:
        self.costs, self.realism = costs, realism
        self.rules = rules if realism.exchange_rules else MarketRules(rules.symbol)
        self.used_ts, self.used_qty = -1, 0.0  # volume already taken on the current candle (part of a snapshot)
        self._touch = realism.vectorbt_stops  # limits fill on a touch, stops at their price without slippage
        self._taker, self._maker = costs.fee_rate, costs.maker_rate  # read once: execute runs per fill

    def _room(self, candle: Candle) -> float:
        if not self.realism.partial_fills:
            return math.inf
        if self.used_ts != candle.ts_ms:
            self.used_ts, self.used_qty = candle.ts_ms, 0.0
        return max(self.realism.participation_cap * candle.volume - self.used_qty, 0.0)

    def _px(self, ref_px: float, candle: Candle, side: int, qty: float) -> float:
        """A taker fill: the reference price moved against the trader by slippage and volume impact."""
        impact = 0.0
        if self.realism.impact_rate and candle.volume > 0:
            impact = self.realism.impact_rate * (qty / candle.volume)
        return self.rules.round_px(fill_px(ref_px, side, self.costs.slippage_rate + impact), side)

    def reference_px(self, order: Order, candle: Candle) -> float | None:
        """Where the order trades on this candle along the pessimistic intrabar path, or None if it does not.

        A limit fills only when the candle trades through it (a touch may sit behind the queue), at the open
        if the candle gapped beyond it; a stop triggers on a touch and fills at the stop, or at the open if the
        candle gapped through it. Within one candle a stop-loss is assumed to come before a take-profit. Under
        vectorbt's stop conventions a take-profit limit fills on a touch, as vectorbt's does."""
        o = candle.open
        if order.type is OrderType.MARKET:
            return o
        if order.type is OrderType.LIMIT:
            limit = order.limit_px
            if order.side > 0:
                return min(o, limit) if candle.low < limit or (self._touch and candle.low == limit) else None
            return max(o, limit) if candle.high > limit or (self._touch and candle.high == limit) else None
        stop = order.stop_px
        if order.side > 0:
            return max(o, stop) if candle.high >= stop else None
        return min(o, stop) if candle.low <= stop else None

    def screen(self, order: Order, last_px: float) -> str | None:
        """What the exchange refuses at submission, before the order exists: its filters applied to the
        order's own price, or for a market order the last price (Binance checks a market order's notional
        against its recent average price). A quote order's amount is what its quote buys there. A sell that
        is not reduce-only opens a short, which needs a market the exchange lends on."""
        if order.side < 0 and not order.reduce_only and not self.rules.margin:
            return NO_MARGIN  # a sell that may open a short needs a loan the exchange does not give here
        px = order.limit_px or order.stop_px or last_px
        qty = order.quote_qty / px if order.quote_qty is not None else order.qty
        return self.rules.violation(self.rules.round_qty(qty), px)

    def execute(self, order: Order, candle: Candle, account: Account, bar: int = -1) -> tuple[Fill | None, str]:
        """Fill what this candle allows of a live order: (fill or None, why not). A reduce-only order fills at
        most the position it closes, a buy at most what the cash can pay (vectorbt's cover), a sell that opens
        a short at most what free cash can back, and a quote order at most what the account can still commit
        (a short's interest may have eaten into its free cash since it was placed). `bar` is the driver's
        index of the candle, carried on the fill for reports."""
        ref = self.reference_px(order, candle)
        if ref is None:
            return None, NOT_TRIGGERED
        room = self._room(candle)
        if room <= 0:
            return None, NO_VOLUME_LEFT
        maker = order.type is OrderType.LIMIT
        fee_rate = self._maker if maker else self._taker
        if order.quote_qty is not None:
            qty, px, fee, why = self._size_quote(order, candle, account, ref, fee_rate, room)
        else:
            exact = maker or (order.type is OrderType.STOP and self._touch)
            qty, px, fee, why = self._size_base(order, candle, account, ref, fee_rate, room, exact)
        if why:
            return None, why
        capped = self.rules.round_qty(min(qty, room))
        if capped <= 0 < qty and room < qty:  # what is left of the candle's volume is less than a lot step
            return None, NO_VOLUME_LEFT
        if capped != qty:
            qty, fee = capped, capped * px * fee_rate
        why = self.rules.violation(qty, px)
        if why is not None:
            return None, why
        self.used_qty += qty
        return _new_tuple(Fill, (order.client_id, bar, candle.ts_ms, order.side, qty, px, fee, FEE_IN_QUOTE, 1.0)), ""

    def _size_quote(self, order: Order, candle: Candle, account: Account, ref: float, fee_rate: float,
                    room: float) -> tuple[float, float, float, str]:
        """A quote order spends what is left of its quote (at most what the account can commit), all in."""
        side = order.side
        budget = min(order.remaining, account.cash if side > 0 else account.free_cash)
        if budget <= 0:
            return 0.0, 0.0, 0.0, INSUFFICIENT_BALANCE
        qty, fee = spend_all(budget, self._px(ref, candle, side, 0.0), fee_rate)
        px = self._px(ref, candle, side, min(qty, room))
        qty, fee = spend_all(budget, px, fee_rate)
        return qty, px, fee, ""

    def _size_base(self, order: Order, candle: Candle, account: Account, ref: float, fee_rate: float,
                   room: float, exact: bool) -> tuple[float, float, float, str]:
        """A base order fills what remains, cut to the position it reduces or to what the account can pay."""
        side, qty = order.side, order.remaining
        if order.reduce_only:
            if account.qty * side >= 0:
                return 0.0, 0.0, 0.0, NOTHING_TO_REDUCE
            qty = min(qty, abs(account.qty))
        px = self.rules.round_px(ref, side) if exact else self._px(ref, candle, side, min(qty, room))
        if side > 0 and qty * px * (1 + fee_rate) > account.cash:
            qty = account.cash / (1 + fee_rate) / px
        elif side < 0 and qty > (held := max(account.qty, 0.0)):  # sells past the long: opens a short
            backing = account.free_cash + held * px * (1 - fee_rate)
            qty = held + min(qty - held, max(backing, 0.0) / (px * (1 + fee_rate)))
        if qty <= 0:
            return 0.0, 0.0, 0.0, INSUFFICIENT_BALANCE
        return qty, px, qty * px * fee_rate, ""
