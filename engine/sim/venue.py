"""The simulated venue: the shared matching (`engine.core.matching`) behind the `Venue` protocol. Replay and
paper trading send it the loop's commands and learn its answers as events, as they would from an exchange.

It keeps its own account (a `Ledger` of what it has filled and charged: the balance its checks read), its
own copy of every order, and its own numbering of orders and trades; our books are the loop's. It learns
each candle as it closes and matches the open orders against it (`process`): market orders at the open,
then stops (adverse first), then limits, with partial fills, latency and the exchange's filters; orders
placed while a candle is being matched (an entry's protection) trade on what is left of it. A short pays
borrow interest as bars pass (`settle`), charged on the closes since the position last changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.costs import Costs
from engine.core.events import Event, InterestCharged, OrderAccepted, OrderCancelled, OrderFilled, OrderRejected
from engine.core.ledger import Fill, Ledger
from engine.core.market_rules import MarketRules
from engine.core.matching import REFUSALS, Candle, Matcher
from engine.core.orders import Order, OrderStatus, OrderType, TimeInForce
from engine.core.realism import Realism
from engine.core.snapshot import fill_from, ledger_from, ledger_state, order_from, order_state

__all__ = ["SimVenue"]

_new_tuple = tuple.__new__
_PRIORITY = {OrderType.MARKET: 0, OrderType.STOP: 1, OrderType.LIMIT: 2}


class SimVenue:
    """One market's simulated exchange for one account. Bars are numbered by the driver (`t`): an order is
    live from its `live_from_bar` on, which is how latency is simulated."""

    def __init__(self, costs: Costs, realism: Realism, rules: MarketRules, bar_ms: int = 0,
                 matcher: Matcher | None = None) -> None:
        self.matcher = matcher if matcher is not None else Matcher(costs, realism, rules)
        self.rules, self.quote_asset = rules, rules.quote_asset  # it charges fees in quote
        self.account = Ledger(cash=costs.init_cash)
        self.orders: dict[str, Order] = {}  # its copy of every order it accepted
        self.received = 0  # orders sent to it, accepted or not
        self.open: list[Order] = []
        self.fills: list[Fill] = []
        self.traded = 0  # fills ever made (its trade ids count them; `forget` may have dropped the fills)
        self.placed: list[Order] = []  # orders accepted during the current pass of `process`
        self.borrow_per_bar = realism.borrow_per_bar(bar_ms)
        self.close_sum = 0.0  # the closes of every bar before the current one, summed in order
        self.changed_sum = 0.0  # `close_sum` when the position last changed
        self.accrual: tuple[float, float, tuple[float, float, float]] | None = None  # from close_sum, qty, books

    # -- the Venue protocol ---------------------------------------------------------------------------------

    def submit(self, command: SubmitOrder) -> list[Event]:
        """Accept an order or refuse it outright (then it never exists here, as on Binance), numbering the
        orders it receives."""
        self.received += 1
        why = self.matcher.screen(command.order, command.last_px)
        if why is not None:
            return [_new_tuple(OrderRejected, (command.ts_ms, command.order.client_id, why))]
        order = command.order.copy()  # its own copy, as received
        order.status = OrderStatus.SUBMITTED
        self.orders[order.client_id] = order
        self.open.append(order)
        self.placed.append(order)
        return self._tell(order, _new_tuple(OrderAccepted, (command.ts_ms, order.client_id, f"sim-{self.received}")))

    def cancel(self, command: CancelOrder) -> list[Event]:
        order = self.orders.get(command.client_id)
        if order is None or not order.is_open:
            return []  # gone already: the fill or refusal that closed it is its answer
        self.open.remove(order)
        return self._tell(order, _new_tuple(OrderCancelled, (command.ts_ms, command.client_id, command.reason)))

    def order(self, client_id: str) -> Order | None:
        return self.orders.get(client_id)

    def open_orders(self) -> list[Order]:
        return list(self.open)

    def trades_since(self, ts_ms: int) -> list[Fill]:
        return [fill for fill in self.fills if fill.ts_ms >= ts_ms]

    def balances(self) -> dict[str, float]:
        base = self.rules.symbol.split("/")[0]
        return {self.quote_asset: self.account.cash, base: self.account.qty, **self.account.balances}

    # -- the passing of bars --------------------------------------------------------------------------------

    def settle(self, ts_ms: int) -> list[Event]:
        """The open of a bar: a short owes interest on the closes since its position last changed. The total
        is computed from there (not summed charge by charge), so any driver books the same cash."""
        qty = self.account.qty
        if qty >= 0 or not self.borrow_per_bar:
            self.accrual = None
            return []
        if self.accrual is None:
            self.accrual = (self.changed_sum, qty, self.account.interest_base())
        start, held, base = self.accrual
        total = float(-held * self.borrow_per_bar * (self.close_sum - start))
        charged = self.account.accrue_interest(total, base)
        if charged <= 0:
            return []
        return [_new_tuple(InterestCharged, (ts_ms, charged, self.quote_asset, total))]

    def learn(self, candle: Candle) -> None:
        """A candle closed: its close counts toward a short's interest from the next bar on."""
        self.close_sum += candle.close

    def process(self, t: int, candle: Candle) -> Iterator[Event]:
        """Let every live open order trade on candle t, yielding each event as it happens; orders accepted
        while the driver handles one (an entry's protection) trade on the same candle after this pass."""
        live = [o for o in self.open if o.live_from_bar <= t]
        while live:
            if len(live) > 1:
                live.sort(key=lambda o: _PRIORITY[o.type])
            self.placed = []
            for order in live:
                if order.is_open:
                    yield from self._trade(order, t, candle)
            live = [o for o in self.placed if o.is_open and o.live_from_bar <= t]
        if self.open and any(o.tif is TimeInForce.IOC for o in self.open):
            for order in [o for o in self.open if o.tif is TimeInForce.IOC and o.live_from_bar <= t]:
                self.open.remove(order)
                yield from self._tell(order, _new_tuple(OrderCancelled, (
                    candle.ts_ms, order.client_id, "immediate or cancel: the rest did not fill on its first bar")))

    def _trade(self, order: Order, t: int, candle: Candle) -> list[Event]:
        fill, why = self.matcher.execute(order, candle, self.account, t)
        if fill is None:
            if not why.startswith(REFUSALS):
                return []  # not on this bar
            self.open.remove(order)
            if order.filled_qty == 0:  # never traded: refused, as Binance would have at once
                return self._tell(order, _new_tuple(OrderRejected, (candle.ts_ms, order.client_id, why)))
            return self._tell(order, _new_tuple(OrderCancelled, (candle.ts_ms, order.client_id,
                                                                 f"the rest is refused: {why}")))
        done = order.completes(fill.qty, fill.px, fill.fee)
        crumb = not done and order.quote_qty is not None and order.remaining_after(fill.qty, fill.px, fill.fee) < \
            self.matcher.rules.qty_step * (fill.px + fill.fee / fill.qty)  # left: less than a step, fee included
        self.fills.append(fill)
        self.traded += 1
        event = _new_tuple(OrderFilled, (fill.ts_ms, order.client_id, fill.qty, fill.px, fill.fee, self.quote_asset,
                                         f"sim-t{self.traded}", done or crumb))
        self.account.apply(fill)
        self.changed_sum, self.accrual = self.close_sum, None  # the position changed: interest counts afresh
        if done or crumb:
            self.open.remove(order)
        return self._tell(order, event)

    def forget(self) -> None:
        """Drop the history a finite run reports and nothing here reads again, between two candles: done orders
        (a cancel of one is answered with nothing either way), fills (`trades_since` then reports those made
        since) and the account's round trips. A paper runner calls it after each candle; replay never does."""
        self.orders = {o.client_id: o for o in self.open}
        self.fills, self.account.round_trips = [], []

    def snapshot(self) -> dict:
        """The venue's state between two candles as JSON-able values: account, orders, fills, interest."""
        return {"account": ledger_state(self.account), "received": self.received,
                "orders": [order_state(o) for o in self.orders.values()],
                "open": [o.client_id for o in self.open], "fills": [list(f) for f in self.fills], "traded": self.traded,
                "close_sum": self.close_sum, "changed_sum": self.changed_sum,
                "accrual": None if self.accrual is None else [self.accrual[0], self.accrual[1], list(self.accrual[2])],
                "volume_used": [self.matcher.used_ts, self.matcher.used_qty]}

    def restore(self, state: dict) -> None:
        """Continue exactly where the venue that took `state` stood."""
        self.account, self.received = ledger_from(state["account"]), state["received"]
        self.orders = {o["client_id"]: order_from(o) for o in state["orders"]}
        self.open = [self.orders[i] for i in state["open"]]
        self.fills = [fill_from(f) for f in state["fills"]]
        self.traded = state.get("traded", len(self.fills))  # a snapshot from before `forget` holds every fill
        self.close_sum, self.changed_sum = state["close_sum"], state["changed_sum"]
        accrual = state["accrual"]
        self.accrual = None if accrual is None else (accrual[0], accrual[1], tuple(accrual[2]))
        self.matcher.used_ts, self.matcher.used_qty = state["volume_used"]

    @staticmethod
    def _tell(order: Order, event: Event) -> list[Event]:
        order.apply(event)
        return [event]
