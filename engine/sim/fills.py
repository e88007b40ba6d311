"""The fill model, replay's simulated venue: fills orders against a bar the way an exchange would, with the
realism the caller switches on (exchange rules, a participation cap with partial fills, volume impact,
a short's borrow interest).

Every price and quantity comes from `engine.core.costs_nb`, the sweep's formulas: with realism off, a fill here
is the fill vectorbt computes.
"""

from __future__ import annotations

import math

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.core.costs_nb import fill_px_nb, spend_all_nb
from engine.core.ledger import FEE_IN_QUOTE, Fill, Ledger
from engine.core.market_rules import MarketRules
from engine.core.orders import Order, OrderType

INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."  # Binance's -2010
NO_MARGIN = "Margin account are not allowed to trade this trading pair."  # Binance's -3021
NOTHING_TO_REDUCE = "ReduceOnly Order is rejected."  # Binance's -2022: no position on the other side
# what the exchange refuses outright, as opposed to "not on this bar"
REFUSALS = ("Filter failure", INSUFFICIENT_BALANCE, NO_MARGIN, NOTHING_TO_REDUCE)

# The kernels' own Python bodies: the same formulas, without numba's call overhead on one scalar at a time.
fill_px, spend_all = fill_px_nb.py_func, spend_all_nb.py_func
_new_tuple = tuple.__new__  # builds a Fill without NamedTuple's Python-level __new__


class FillModel:
    """One market's simulated venue for one run: it prices fills and remembers how much of the current
    bar's volume orders have already taken."""

    def __init__(self, bars: Bars, costs: Costs, realism: Realism, rules: MarketRules) -> None:
        self.bars, self.costs, self.realism = bars, costs, realism
        self.rules = rules if realism.exchange_rules else MarketRules(rules.symbol)
        self._used_bar, self._used_qty = -1, 0.0  # volume already taken on the current bar
        self._open, self._volume, self._ts = bars.open, bars.volume, bars.ts_ms
        self._vbt_stops = realism.vectorbt_stops  # limits fill on a touch, stops at their price without slippage
        self._taker, self._maker = costs.fee_rate, costs.maker_rate  # read once: execute runs per fill

    def _room(self, t: int) -> float:
        if not self.realism.partial_fills:
            return math.inf
        if self._used_bar != t:
            self._used_bar, self._used_qty = t, 0.0
        return max(self.realism.participation_cap * float(self._volume[t]) - self._used_qty, 0.0)

    def _px(self, ref_px: float, t: int, side: int, qty: float) -> float:
        """A taker fill: the reference price moved against the trader by slippage and volume impact."""
        impact = 0.0
        if self.realism.impact_rate and (volume := float(self._volume[t])) > 0:
            impact = self.realism.impact_rate * (qty / volume)
        return self.rules.round_px(fill_px(ref_px, side, self.costs.slippage_rate + impact), side)

    def reference_px(self, order: Order, t: int) -> float | None:
        """Where the order trades on bar t along the pessimistic intrabar path, or None if it does not.

        A limit fills only when the bar trades through it (a touch may sit behind the queue), at the open
        if the bar gapped beyond it; a stop triggers on a touch and fills at the stop, or at the open if the
        bar gapped through it. Within one bar a stop-loss is assumed to come before a take-profit. Under
        vectorbt's stop conventions a take-profit limit fills on a touch, as vectorbt's does."""
        o = float(self._open[t])
        if order.type is OrderType.MARKET:
            return o
        h, lo = float(self.bars.high[t]), float(self.bars.low[t])
        if order.type is OrderType.LIMIT:
            limit = order.limit_px
            if order.side > 0:
                return min(o, limit) if lo < limit or (self._vbt_stops and lo == limit) else None
            return max(o, limit) if h > limit or (self._vbt_stops and h == limit) else None
        stop = order.stop_px
        if order.side > 0:
            return max(o, stop) if h >= stop else None
        return min(o, stop) if lo <= stop else None

    def first_trigger(self, order: Order, start: int) -> int:
        """The first bar from `start` on where a resting order can trade (len(bars) if none), scanning in
        growing chunks so a near trigger costs little."""
        n, chunk = len(self.bars), 256
        lo = start
        while lo < n:
            hi = min(n, lo + chunk)
            if order.type is OrderType.LIMIT:
                if order.side > 0:
                    low = self.bars.low[lo:hi]
                    hit = (low <= order.limit_px) if self._vbt_stops else (low < order.limit_px)
                else:
                    high = self.bars.high[lo:hi]
                    hit = (high >= order.limit_px) if self._vbt_stops else (high > order.limit_px)
            elif order.type is OrderType.STOP:
                stop = order.stop_px
                hit = self.bars.high[lo:hi] >= stop if order.side > 0 else self.bars.low[lo:hi] <= stop
            else:
                return lo
            if hit.any():
                return lo + int(hit.argmax())
            lo, chunk = hi, chunk * 4
        return n

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

    def execute(self, order: Order, t: int, account: Ledger) -> tuple[Fill | None, str]:
        """Fill what bar t allows of a live order: (fill or None, why not). A reduce-only order fills at most
        the position it closes, a buy at most what the cash can pay (vectorbt's cover), a sell that opens a
        short at most what free cash can back, and a quote order at most what the account can still commit
        (a short's interest may have eaten into its free cash since it was placed)."""
        ref = self.reference_px(order, t)
        if ref is None:
            return None, "not triggered on this bar"
        room = self._room(t)
        if room <= 0:
            return None, "no volume left on this bar"
        maker = order.type is OrderType.LIMIT
        exact = maker or (order.type is OrderType.STOP and self._vbt_stops)
        fee_rate = self._maker if maker else self._taker
        side, cash = order.side, account.cash
        if order.quote_qty is not None:
            budget = min(order.remaining, cash if side > 0 else account.free_cash)
            if budget <= 0:
                return None, INSUFFICIENT_BALANCE
            qty, fee = spend_all(budget, self._px(ref, t, side, 0.0), fee_rate)
            px = self._px(ref, t, side, min(qty, room))
            qty, fee = spend_all(budget, px, fee_rate)
        else:
            qty = order.remaining
            if order.reduce_only:
                if account.qty * side >= 0:
                    return None, NOTHING_TO_REDUCE
                qty = min(qty, abs(account.qty))
            px = self.rules.round_px(ref, side) if exact else self._px(ref, t, side, min(qty, room))
            if side > 0 and qty * px * (1 + fee_rate) > cash:
                qty = cash / (1 + fee_rate) / px
            elif side < 0 and qty > (held := max(account.qty, 0.0)):  # sells past the long: opens a short
                backing = account.free_cash + held * px * (1 - fee_rate)
                qty = held + min(qty - held, max(backing, 0.0) / (px * (1 + fee_rate)))
            if qty <= 0:
                return None, INSUFFICIENT_BALANCE
            fee = qty * px * fee_rate
        capped = self.rules.round_qty(min(qty, room))
        if capped <= 0 < qty and room < qty:  # what is left of the bar's volume is less than a lot step
            return None, "no volume left on this bar"
        if capped != qty:
            qty, fee = capped, capped * px * fee_rate
        why = self.rules.violation(qty, px)
        if why is not None:
            return None, why
        self._used_qty += qty
        return _new_tuple(Fill, (order.client_id, t, int(self._ts[t]), side, qty, px, fee, FEE_IN_QUOTE, 1.0)), ""
