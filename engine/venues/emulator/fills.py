"""Where and at what price the emulator's orders fill. The matching itself is the engine's
(`engine.core.matching.Matcher`, the fill model replay and paper share); this module says which candle an
order meets and turns the exchange's orders into the engine's and the fills back into exact decimals.

- A taker (a market order, a limit that crosses when placed, a stop-limit whose limit crosses when it
  triggers) trades at one known price: the open of the candle in progress when placed (as replay fills a
  decision at the next open), or the trigger price; the depth it may take from is the volume of the candle
  before (never one after "now"). It pays the fill model's slippage, never beyond its limit.
- A resting limit meets each candle whole once the clock has passed its close, along the pessimistic
  intrabar path (it fills only if the candle trades through it), its share capped by the participation cap.

The matcher charges no fee: commission is the exchange's, charged by the book in the asset received.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from engine.core import Candle, Costs, MarketRules, Matcher, Order, OrderType, Realism
from engine.venues.emulator.config import TradingConfig
from engine.venues.emulator.feed import Feed
from engine.venues.emulator.records import BookOrder

EIGHT = Decimal("0.00000001")  # Binance's precision for amounts and commissions


@dataclass(slots=True)
class Market:
    """One traded market: its candles, assets and matcher, and how far the clock's candles were matched."""

    feed: Feed
    base: str
    quote: str
    matcher: Matcher
    matched_until_ms: int


class Reference(NamedTuple):
    """A taker's price, the open time of the candle it trades on, and the volume it may take a share of."""

    px: float
    ts_ms: int
    depth: float


class _Funds(NamedTuple):
    """What the matcher may let the order use (its `Account`): the lock has already made sure of the money."""

    cash: float
    qty: float

    @property
    def free_cash(self) -> float:
        return self.cash


def make_market(feed: Feed, config: TradingConfig, now_ms: int) -> Market:
    base, quote = feed.symbol.split("/")
    rules = MarketRules(feed.symbol, qty_step=float(feed.rules.step_size), px_tick=float(feed.rules.tick_size),
                        margin=False)  # lots and ticks for sizing; the filters are checked at placement
    cap = config.participation_cap
    realism = Realism(exchange_rules=True, partial_fills=cap is not None, participation_cap=cap or 1.0,
                      impact_rate=0.0, latency_bars=0, borrow_rate=0.0, vectorbt_stops=False)
    matcher = Matcher(Costs(fee_rate=0.0, slippage_rate=config.slippage_rate), realism, rules)
    return Market(feed, base, quote, matcher, now_ms)


def reference(feed: Feed, now_ms: int) -> Reference | None:
    """The market as a taker meets it at `now_ms`: the open of the candle in progress, with the volume of the
    candle before as its depth; between candles (an outage, the end of the data) the last close. None before
    the first candle: the market is closed."""
    opened = feed.opened(now_ms)
    if opened == 0:
        return None
    last = feed.candle(opened - 1)
    if last.ts_ms + feed.step_ms > now_ms:
        depth = float(feed.values[opened - 2, 4]) if opened > 1 else 0.0
        return Reference(last.open, last.ts_ms, depth)
    return Reference(last.close, last.ts_ms, last.volume)


def take(matcher: Matcher, order: BookOrder, ref: Reference) -> tuple[Decimal, Decimal] | None:
    """A taker's fill at `ref` (qty, px), or None if nothing fills (no depth left)."""
    px = ref.px
    fill, _ = matcher.execute(_core_order(order, OrderType.MARKET), Candle(ref.ts_ms, px, px, px, px, ref.depth),
                              _funds(order))
    if fill is None:
        return None
    filled = fill.px
    if order.price > 0:  # a limit never trades beyond its price
        filled = min(filled, float(order.price)) if order.is_buy else max(filled, float(order.price))
    return _exact(fill.qty, order), Decimal(repr(filled)).quantize(EIGHT)


def rest(matcher: Matcher, order: BookOrder, candle: Candle) -> tuple[Decimal, Decimal] | None:
    """A resting limit's fill on a closed candle (qty, px), or None."""
    fill, _ = matcher.execute(_core_order(order, OrderType.LIMIT), candle, _funds(order))
    if fill is None:
        return None
    return _exact(fill.qty, order), Decimal(repr(fill.px)).quantize(EIGHT)


def trial(matcher: Matcher) -> Matcher:
    """A copy to try a fill-or-kill on: kept if the order fills whole, dropped (volume untouched) if not."""
    return copy.copy(matcher)


def crosses(is_buy: bool, limit: Decimal, px: float) -> bool:
    """Whether a limit at `limit` trades at once against `px`."""
    return limit >= Decimal(repr(px)) if is_buy else limit <= Decimal(repr(px))


def triggers_at(is_buy: bool, kind: str, stop: Decimal, px: float) -> bool:
    """Whether a stop at `stop` is triggered by a trade at `px`. A stop-loss buy and a take-profit sell wait
    for the price to rise to their stop; a stop-loss sell and a take-profit buy for it to fall."""
    at = Decimal(repr(px))
    return at >= stop if _rises(is_buy, kind) else at <= stop


def trigger_px(order: BookOrder, candle: Candle) -> float | None:
    """Where a candle triggers a stop: at the stop, or at the open if the candle gapped through it."""
    stop = float(order.stop_px)
    if _rises(order.is_buy, order.type):
        return max(candle.open, stop) if candle.high >= stop else None
    return min(candle.open, stop) if candle.low <= stop else None


def _rises(is_buy: bool, kind: str) -> bool:
    return (kind == "STOP_LOSS_LIMIT") == is_buy


def _core_order(order: BookOrder, kind: OrderType) -> Order:
    side = 1 if order.is_buy else -1
    if order.quote_qty > 0 and order.is_buy:  # spends a quote amount (Binance's quoteOrderQty)
        return Order(str(order.order_id), order.symbol, side, 0.0, kind, quote_qty=float(order.quote_qty - order.cum_quote))
    limit = float(order.price) if kind is OrderType.LIMIT else None
    # a spot sell sells base the account holds: reduce-only to the matcher, which then never opens a short
    return Order(str(order.order_id), order.symbol, side, float(order.remaining), kind, limit_px=limit,
                 reduce_only=side < 0)


def _funds(order: BookOrder) -> _Funds:
    if not order.is_buy:
        return _Funds(0.0, float(order.remaining))
    # a limit buy locked quantity × limit and never pays more; a market buy may spend what it locked
    return _Funds(math.inf if order.price > 0 else float(order.locked), 0.0)


def _exact(qty: float, order: BookOrder) -> Decimal:
    amount = Decimal(repr(qty)).quantize(EIGHT, rounding=ROUND_DOWN)
    return amount if order.quote_qty > 0 and order.is_buy else min(amount, order.remaining)
