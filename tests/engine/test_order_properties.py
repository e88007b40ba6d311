"""Random order sequences: the state machine admits exactly its transitions, and the fill model and ledger,
driven by random orders over random bars, keep the books balanced and spot never below zero."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.sim.fills import FillModel
from engine.core.ledger import Ledger
from engine.core.market_rules import MarketRules
from engine.core.events import OrderAccepted, OrderCancelled, OrderFilled, OrderRejected, OrderSubmitted
from engine.core.orders import FILLABLE, TERMINAL, TRANSITIONS, InvalidTransition, Order, OrderStatus, OrderType

EVENTS = ["submitted", "accepted", "rejected", "cancelled", "cancel_requested"]


def event_of(step: str | float, order: Order) -> object | None:
    """The venue event a random step stands for (None: our own cancel request), about `order`."""
    cid = order.client_id
    if isinstance(step, float):  # a fill of `step` base; it completes the order when nothing is left
        return OrderFilled(0, cid, step, 10.0, 0.01, "USDT", "t", order.completes(step, 10.0, 0.01))
    return {"submitted": OrderSubmitted(0, cid, 1, "market", order.qty), "accepted": OrderAccepted(0, cid, "v1"),
            "rejected": OrderRejected(0, cid, "no"), "cancelled": OrderCancelled(0, cid, "asked")}.get(step)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.one_of(st.sampled_from(EVENTS), st.floats(0.01, 3.0)), max_size=12))
def test_an_order_takes_only_the_events_its_state_admits_and_a_refused_one_changes_nothing(steps):
    order = Order("o", "T/USDT", 1, 5.0)
    for step in steps:
        before = (order.status, order.filled_qty, order.spent, order.fees, order.venue_order_id)
        event = event_of(step, order)
        if event is None:
            allowed, action = OrderStatus.PENDING_CANCEL in TRANSITIONS.get(order.status, ()), \
                lambda: order.move(OrderStatus.PENDING_CANCEL)
        elif isinstance(event, OrderFilled):
            allowed = order.status in FILLABLE and step <= order.remaining * (1 + 1e-9)
            action = lambda: order.apply(event)  # noqa: E731
        else:
            target = {"submitted": OrderStatus.SUBMITTED, "accepted": OrderStatus.ACCEPTED,
                      "rejected": OrderStatus.REJECTED, "cancelled": OrderStatus.CANCELLED}[step]
            allowed = target in TRANSITIONS.get(order.status, frozenset())
            action = lambda: order.apply(event)  # noqa: E731
        if allowed:
            action()
        else:
            with pytest.raises(InvalidTransition):
                action()
            assert (order.status, order.filled_qty, order.spent, order.fees, order.venue_order_id) == before
        if before[0] in TERMINAL:
            assert order.status == before[0]  # terminal is for ever
        assert order.filled_qty <= order.qty * (1 + 1e-9)
        assert (order.status is OrderStatus.FILLED) == (order.filled_qty >= order.qty * (1 - 1e-9))


def _random_order(draw, k: int, t: int, shorts: bool) -> Order:
    kind = draw(st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.STOP]))
    side = draw(st.sampled_from([1, -1]))
    px = draw(st.floats(80.0, 120.0))
    price = {"limit_px": px} if kind is OrderType.LIMIT else {"stop_px": px} if kind is OrderType.STOP else {}
    if kind is OrderType.MARKET and (side > 0 or shorts) and draw(st.booleans()):
        return Order(f"o{k}", "T/USDT", side, 0.0, kind, quote_qty=draw(st.floats(1.0, 2000.0)), live_from_bar=t)
    return Order(f"o{k}", "T/USDT", side, draw(st.floats(0.001, 20.0)), kind, reduce_only=side < 0 and not shorts,
                 live_from_bar=t, **price)


@st.composite
def sessions(draw):
    n = draw(st.integers(3, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    opens = np.r_[100.0, close[:-1]]
    bars = Bars(np.arange(n, dtype=np.int64) * 60_000, opens, np.maximum(opens, close) * 1.02,
                np.minimum(opens, close) * 0.98, close, rng.uniform(0.5, 50.0, n))
    shorts = draw(st.booleans())
    orders = [[_random_order(draw, t * 10 + j, t, shorts) for j in range(draw(st.integers(0, 3)))] for t in range(n)]
    realism = Realism(exchange_rules=draw(st.booleans()), partial_fills=draw(st.booleans()), participation_cap=0.3)
    return bars, orders, realism, shorts


@settings(max_examples=150, deadline=None)
@given(session=sessions(), fee=st.sampled_from([0.0, 0.001]), slip=st.sampled_from([0.0, 0.002]))
def test_random_orders_keep_the_books_balanced_and_spot_never_negative(session, fee, slip):
    bars, per_bar, realism, shorts = session
    rules = MarketRules("T/USDT", qty_step=0.001, px_tick=0.01, min_qty=0.001, min_notional=1.0)
    model, ledger = FillModel(bars, Costs(fee, slip, 1000.0), realism, rules), Ledger(cash=1000.0)
    bought = sold = 0.0
    live: list[Order] = []
    for t, arriving in enumerate(per_bar):
        for order in arriving:
            order.apply(OrderSubmitted(t, order.client_id, order.side, order.type.value, order.qty))
            why = model.screen(order, float(bars.close[t]))
            order.apply(OrderRejected(t, order.client_id, why) if why else OrderAccepted(t, order.client_id, "v"))
        live += [order for order in arriving if order.is_open]
        for order in live:
            fill, why = model.execute(order, model.candle(t), ledger, t)
            if fill is None:
                assert why
                continue
            order.apply(OrderFilled(t, order.client_id, fill.qty, fill.px, fill.fee, "USDT", "t",
                                    order.completes(fill.qty, fill.px, fill.fee)))
            ledger.apply(fill)  # raises if the fill spends cash it does not have or shorts without backing
            bought += fill.notional if fill.side > 0 else 0.0
            sold += fill.notional if fill.side < 0 else 0.0
            assert rules.violation(fill.qty, fill.px) is None or not realism.exchange_rules
        live = [order for order in live if order.is_open]
        assert ledger.cash >= -1e-9
        if not shorts:
            assert ledger.qty >= -1e-12
    assert ledger.cash + bought - sold + ledger.fees_paid == pytest.approx(1000.0, rel=1e-9, abs=1e-9)
    final = float(bars.close[-1])
    assert ledger.realized_pnl + ledger.unrealized_pnl(final) == pytest.approx(ledger.equity(final) - 1000.0, abs=1e-6)
    for order in (o for arriving in per_bar for o in arriving):
        assert order.status is not OrderStatus.PENDING
        assert order.is_open or order.status in TERMINAL
