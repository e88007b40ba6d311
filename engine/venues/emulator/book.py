"""The emulated account: balances, orders and trades, as the exchange's matching engine keeps them.

Orders are placed, cancelled and looked up here, in Binance's rules (a client order id unique among open
orders, -2010 when the balance cannot be locked, -2013/-2011 for an unknown order), and matched against the
feeds' candles as the emulator's clock passes their closes, in the order they were placed. Commission is
charged as Binance charges it: in the asset received (a buy pays in base, a sell in quote).

Every call brings the matching up to "now" first, so a fill is never later than the clock and never earlier
than the candle that made it. One re-entrant lock: the server's thread and a test's thread both call in.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal

from engine.core import Candle
from engine.venues.binance_wire import BinanceError
from engine.venues.emulator import fills
from engine.venues.emulator.balances import Balances
from engine.venues.emulator.config import TradingConfig
from engine.venues.emulator.filters import check_filters
from engine.venues.emulator.records import STOP_TYPES, BookOrder, BookTrade, OrderRequest

EIGHT = fills.EIGHT


@dataclass(frozen=True, slots=True)
class Window:
    """Which records a list endpoint answers: times and ids from, times to, at most `limit` (the latest ones
    when no start is given, as Binance does)."""

    start_ms: int | None = None
    end_ms: int | None = None
    from_id: int | None = None
    order_id: int | None = None
    limit: int = 500

    def select(self, records: list, time_of: Callable, id_of: Callable) -> list:
        chosen = [r for r in records if (self.start_ms is None or time_of(r) >= self.start_ms)
                  and (self.end_ms is None or time_of(r) <= self.end_ms)
                  and (self.from_id is None or id_of(r) >= self.from_id)]
        return chosen[: self.limit] if self.start_ms is not None or self.from_id is not None else chosen[-self.limit:]


class Book:
    def __init__(self, markets: dict[str, fills.Market], balances: Balances, config: TradingConfig) -> None:
        self.markets, self.balances, self.config = markets, balances, config
        self.orders: dict[int, BookOrder] = {}
        self.trades: list[BookTrade] = []
        self.next_order_id, self.next_trade_id = 1, 1
        self.on_change: Callable[[Book], None] = lambda book: None  # persistence hooks in here
        self._lock = threading.RLock()

    # -- placing and cancelling ------------------------------------------------------------------
    def place(self, request: OrderRequest, now_ms: int, invisible_s: float = 0.0) -> tuple[BookOrder, list[BookTrade]]:
        """A new order, with the fills it takes at once; refused with Binance's error before it exists."""
        with self._lock:
            self.catch_up(now_ms)
            market, ref = self._admit(request, now_ms)
            order = self._open(request, market, ref, now_ms)
            trades = self._execute_now(order, market, ref, now_ms)
            if invisible_s > 0:
                order.visible_at = time.monotonic() + invisible_s
            self.on_change(self)
            return order, trades

    def test(self, request: OrderRequest, now_ms: int) -> None:
        """`POST /api/v3/order/test`: every check a placement makes, nothing placed."""
        with self._lock:
            self.catch_up(now_ms)
            market, ref = self._admit(request, now_ms)
            self._lock_for(request, self._quantity(request, market, ref), market, ref)

    def cancel(self, symbol: str, order_id: int | None, client_id: str | None, now_ms: int) -> BookOrder:
        """Cancel an open order (the matching engine sees it even while queries do not); -2011 otherwise."""
        with self._lock:
            self.catch_up(now_ms)
            order = self._find(symbol, order_id, client_id, visible_only=False)
            if order is None or not order.is_open:
                raise BinanceError("unknown_order")
            self._finish(order, "CANCELED", now_ms)
            self.on_change(self)
            return order

    # -- looking up -------------------------------------------------------------------------------
    def query(self, symbol: str, order_id: int | None, client_id: str | None, now_ms: int) -> BookOrder:
        with self._lock:
            self.catch_up(now_ms)
            order = self._find(symbol, order_id, client_id, visible_only=True)
            if order is None:
                raise BinanceError("no_such_order")
            return order

    def open_orders(self, symbol: str | None, now_ms: int) -> list[BookOrder]:
        with self._lock:
            self.catch_up(now_ms)
            return [o for o in self._visible() if o.is_open and symbol in (None, o.symbol)]

    def all_orders(self, symbol: str, window: Window, now_ms: int) -> list[BookOrder]:
        with self._lock:
            self.catch_up(now_ms)
            mine = [o for o in self._visible() if o.symbol == symbol]
            window = Window(window.start_ms, window.end_ms, window.order_id, None, window.limit)  # orderId: from
            return window.select(mine, lambda o: o.time_ms, lambda o: o.order_id)

    def my_trades(self, symbol: str, window: Window, now_ms: int) -> list[BookTrade]:
        with self._lock:
            self.catch_up(now_ms)
            seen = {o.order_id for o in self._visible()}
            mine = [t for t in self.trades if t.symbol == symbol and t.order_id in seen
                    and window.order_id in (None, t.order_id)]
            return window.select(mine, lambda t: t.time_ms, lambda t: t.trade_id)

    def balance_rows(self, now_ms: int) -> list[tuple[str, Decimal, Decimal]]:
        with self._lock:
            self.catch_up(now_ms)
            return self.balances.rows()

    def _find(self, symbol: str, order_id: int | None, client_id: str | None, *, visible_only: bool) -> BookOrder | None:
        if order_id is None and client_id is None:
            raise BinanceError("missing_either", first="origClientOrderId", second="orderId")
        pool = self._visible() if visible_only else list(self.orders.values())
        found = [o for o in pool if o.symbol == symbol and order_id in (None, o.order_id)
                 and client_id in (None, o.client_id)]
        return found[-1] if found else None  # a client id may be reused once its order has ended: the latest

    def _visible(self) -> list[BookOrder]:
        now = time.monotonic()
        return [o for o in self.orders.values() if o.visible_at <= now]

    # -- admission --------------------------------------------------------------------------------
    def _admit(self, request: OrderRequest, now_ms: int) -> tuple[fills.Market, fills.Reference]:
        market = self.markets.get(request.symbol)
        if market is None:
            raise BinanceError("bad_symbol")
        if any(o.is_open and o.client_id == request.client_id for o in self.orders.values()):
            raise BinanceError("duplicate_order")
        ref = fills.reference(market.feed, now_ms)
        if ref is None:
            raise BinanceError("market_closed")
        check_filters(market.feed.rules, request, Decimal(repr(ref.px)))
        is_buy = request.side == "BUY"
        if request.type == "LIMIT_MAKER" and fills.crosses(is_buy, request.price, ref.px):
            raise BinanceError("would_take")
        if request.type in STOP_TYPES and fills.triggers_at(is_buy, request.type, request.stop_px, ref.px):
            raise BinanceError("would_trigger")
        return market, ref

    def _quantity(self, request: OrderRequest, market: fills.Market, ref: fills.Reference) -> Decimal:
        """The base amount; a quote sell sells what its quote is worth at the reference price, in whole lots."""
        if request.qty is not None or request.side == "BUY":
            return request.qty or Decimal(0)
        step, ref_px = Decimal(market.feed.rules.step_size), Decimal(repr(ref.px))
        qty = (request.quote_qty / ref_px // step) * step
        if qty < Decimal(market.feed.rules.min_qty):
            raise BinanceError("filter", name="LOT_SIZE")
        return qty

    def _lock_for(self, request: OrderRequest, qty: Decimal, market: fills.Market,
                  ref: fills.Reference) -> tuple[str, Decimal]:
        """What placing the order sets aside: a buy's quote (at its limit, its quote amount, or for a market buy
        the reference price with slippage and a tick to spare), a sell's base. -2010 if the account lacks it."""
        if request.side == "SELL":
            asset, amount = market.base, qty
        elif request.price is not None:
            asset, amount = market.quote, qty * request.price
        elif request.quote_qty is not None:
            asset, amount = market.quote, request.quote_qty
        else:
            worst = Decimal(repr(ref.px * (1 + self.config.slippage_rate))) + Decimal(market.feed.rules.tick_size)
            asset, amount = market.quote, (qty * worst).quantize(EIGHT, rounding=ROUND_UP)
        if amount > self.balances.free(asset):
            raise BinanceError("insufficient_balance")
        return asset, amount

    def _open(self, request: OrderRequest, market: fills.Market, ref: fills.Reference, now_ms: int) -> BookOrder:
        qty = self._quantity(request, market, ref)
        asset, amount = self._lock_for(request, qty, market, ref)
        self.balances.lock(asset, amount)
        zero = Decimal(0)
        order = BookOrder(self.next_order_id, request.symbol, request.client_id, request.side, request.type,
                          request.tif, qty, request.price or zero, request.stop_px or zero, request.quote_qty or zero,
                          now_ms, now_ms, -1 if request.type in STOP_TYPES else now_ms, locked=amount)
        self.next_order_id += 1
        self.orders[order.order_id] = order
        return order

    # -- execution --------------------------------------------------------------------------------
    def _execute_now(self, order: BookOrder, market: fills.Market, ref: fills.Reference, now_ms: int) -> list[BookTrade]:
        """What the order takes when it arrives: a market order all it can, a limit if it crosses."""
        if order.type in STOP_TYPES or order.type == "LIMIT_MAKER":
            return []  # a stop waits for its trigger; a maker order was refused if it would take
        if order.type == "LIMIT" and not fills.crosses(order.is_buy, order.price, ref.px):
            if order.tif != "GTC":
                self._finish(order, "EXPIRED", now_ms)  # IOC/FOK: nothing could fill at once
            return []
        return self._take(order, market, ref, now_ms)

    def _take(self, order: BookOrder, market: fills.Market, ref: fills.Reference, ts_ms: int) -> list[BookTrade]:
        """A taker fill; fill-or-kill all or nothing; what a market or IOC order leaves expires."""
        trial = fills.trial(market.matcher)
        got = fills.take(trial, order, ref)
        if order.tif == "FOK" and (got is None or got[0] < order.remaining):
            self._finish(order, "EXPIRED", ts_ms)
            return []
        market.matcher = trial
        trades = [self._fill(order, market, got, ts_ms, maker=False)] if got is not None and got[0] > 0 else []
        if order.is_open and (order.type == "MARKET" or order.tif != "GTC"):
            self._finish(order, "EXPIRED", ts_ms)
        return trades

    def catch_up(self, now_ms: int) -> None:
        """Match the open orders against every candle that closed since the last call, in time order."""
        with self._lock:
            changed = False
            for market_id, market in self.markets.items():
                if now_ms <= market.matched_until_ms:
                    continue
                waiting = [o for o in self.orders.values() if o.is_open and o.symbol == market_id]
                for i in market.feed.closed_between(market.matched_until_ms, now_ms) if waiting else ():
                    candle = market.feed.candle(i)
                    for order in waiting:
                        if order.is_open:
                            changed |= self._match(order, market, candle)
                market.matched_until_ms = now_ms
            if changed:
                self.on_change(self)

    def _match(self, order: BookOrder, market: fills.Market, candle: Candle) -> bool:
        """One open order against one closed candle: a stop's trigger, or a working limit's fill."""
        close = candle.ts_ms + market.feed.step_ms
        if close <= order.time_ms:
            return False
        if order.working_ms < 0:
            trigger = fills.trigger_px(order, candle)
            if trigger is None:
                return False
            order.working_ms = order.update_ms = close  # now a limit order on the book
            if fills.crosses(order.is_buy, order.price, trigger):
                self._take(order, market, fills.Reference(trigger, candle.ts_ms, candle.volume), close)
            elif order.tif != "GTC":
                self._finish(order, "EXPIRED", close)
            return True
        if close <= order.working_ms:
            return False
        got = fills.rest(market.matcher, order, candle)
        if got is None or got[0] <= 0:
            return False
        self._fill(order, market, got, close, maker=True)
        return True

    def _fill(self, order: BookOrder, market: fills.Market, got: tuple[Decimal, Decimal], ts_ms: int, *,
              maker: bool) -> BookTrade:
        """Book one fill: the lock pays for it, the asset received arrives less the commission."""
        qty, px = got
        quote = (qty * px).quantize(EIGHT)
        rate = self.config.maker_rate if maker else self.config.taker_rate
        if order.is_buy:
            commission, asset = (qty * rate).quantize(EIGHT), market.base
            spent = min(quote, order.locked)
            self.balances.consume(market.quote, spent)
            self.balances.credit(market.base, qty - commission)
        else:
            commission, asset = (quote * rate).quantize(EIGHT), market.quote
            spent = qty
            self.balances.consume(market.base, qty)
            self.balances.credit(market.quote, quote - commission)
        order.locked -= spent
        trade = BookTrade(self.next_trade_id, order.order_id, order.symbol, order.is_buy, px, qty, quote, commission,
                          asset, ts_ms, maker)
        self.next_trade_id += 1
        self.trades.append(trade)
        order.executed_qty += qty
        order.cum_quote += quote
        order.update_ms = ts_ms
        order.status = "PARTIALLY_FILLED"
        if self._complete(order, market, px):
            self._finish(order, "FILLED", ts_ms)
        return trade

    @staticmethod
    def _complete(order: BookOrder, market: fills.Market, px: Decimal) -> bool:
        if order.quote_qty > 0 and order.is_buy:  # spent once what is left cannot buy another lot
            return order.quote_qty - order.cum_quote < Decimal(market.feed.rules.step_size) * px
        return order.executed_qty >= order.qty

    def _finish(self, order: BookOrder, status: str, ts_ms: int) -> None:
        """End an order: what it still had locked goes back to free."""
        market = self.markets[order.symbol]
        self.balances.release(market.quote if order.is_buy else market.base, order.locked)
        order.locked = Decimal(0)
        order.status, order.update_ms = status, ts_ms
        if order.quote_qty > 0 and order.is_buy:
            order.qty = order.executed_qty  # Binance reports a quote order's quantity as what it bought


def generated_client_id() -> str:
    """The client id Binance makes up for an order or a cancel that came without one."""
    return uuid.uuid4().hex[:22]


def open_book(markets: dict[str, fills.Market], config: TradingConfig, assets: Iterable[str]) -> Book:
    """A fresh account holding the configured opening balances (and zero of every traded asset)."""
    return Book(markets, Balances(config.balances, assets=assets), config)
