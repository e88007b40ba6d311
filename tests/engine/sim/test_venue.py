"""The simulated venue on its own: commands in, events out, its own account and its own copy of each order."""

from __future__ import annotations

import pytest

from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.costs import Costs
from engine.core.market_rules import unrestricted
from engine.core.matching import Candle
from engine.core.orders import Order, OrderStatus, OrderType, TimeInForce
from engine.core.realism import Realism
from engine.sim.venue import SimVenue

FREE = unrestricted("T/USDT")


def candle(t: int, o: float, h: float, lo: float, c: float, volume: float = 4.0) -> Candle:
    return Candle(t * 60_000, o, h, lo, c, volume)


def test_an_ioc_order_fills_what_its_first_candle_allows_and_a_gtc_limit_rests_until_traded_through():
    realism = Realism(exchange_rules=False, partial_fills=True, participation_cap=0.25)  # one unit a candle
    venue = SimVenue(Costs(0.001, 0.0, 1000.0, maker_fee_rate=0.0), realism, FREE)
    ioc = Order("ioc", "T/USDT", 1, 3.0, tif=TimeInForce.IOC, live_from_bar=1)
    rest = Order("gtc", "T/USDT", 1, 0.5, OrderType.LIMIT, limit_px=8.5, live_from_bar=1)
    answers = venue.submit(SubmitOrder(60_000, ioc, 10.0)) + venue.submit(SubmitOrder(60_000, rest, 10.0))
    assert [(e.kind, e.venue_order_id) for e in answers] == [("order_accepted", "sim-1"), ("order_accepted", "sim-2")]
    bars = [candle(1, 10, 10, 10, 10), candle(2, 10, 10, 10, 10), candle(3, 9, 9, 8, 9), candle(4, 9, 9, 9, 9)]
    events = [e for t, c in enumerate(bars, start=1) for e in venue.process(t, c)]
    mine = venue.order("ioc")
    assert mine is not ioc and ioc.status is OrderStatus.PENDING  # the venue keeps its own copy
    assert mine.status is OrderStatus.CANCELLED and mine.filled_qty == 1.0 and mine.fees == pytest.approx(0.01)
    assert mine.reason.startswith("immediate or cancel")
    assert [(e.kind, e.client_id, getattr(e, "px", None)) for e in events] == [
        ("order_filled", "ioc", 10.0), ("order_cancelled", "ioc", None), ("order_filled", "gtc", 8.5)]
    assert [(f.bar, f.px, f.fee) for f in venue.fills if f.order_id == "gtc"] == [(3, 8.5, 0.0)]  # maker fee
    assert venue.balances()["USDT"] == pytest.approx(1000.0 - 10.0 - 0.01 - 4.25)
    assert venue.balances()["T"] == pytest.approx(1.5) and venue.open_orders() == []


def test_a_reduce_only_order_with_nothing_to_reduce_is_refused():
    venue = SimVenue(Costs(0.0, 0.0, 100.0), Realism(exchange_rules=False, partial_fills=False), FREE)
    venue.submit(SubmitOrder(0, Order("r", "T/USDT", -1, 1.0, reduce_only=True, live_from_bar=1), 10.0))
    events = list(venue.process(1, candle(1, 10, 10, 10, 10)))
    assert [(e.kind, e.reason) for e in events] == [("order_rejected", "ReduceOnly Order is rejected.")]
    assert not venue.fills and venue.order("r").status is OrderStatus.REJECTED


def test_a_cancel_answers_once_and_an_unknown_or_finished_order_gets_no_answer():
    venue = SimVenue(Costs(0.0, 0.0, 100.0), Realism.ideal(), FREE)
    venue.submit(SubmitOrder(0, Order("l", "T/USDT", 1, 1.0, OrderType.LIMIT, limit_px=5.0, live_from_bar=1), 10.0))
    assert [e.kind for e in venue.cancel(CancelOrder(0, "l", "changed my mind"))] == ["order_cancelled"]
    assert venue.cancel(CancelOrder(0, "l", "again")) == [] and venue.cancel(CancelOrder(0, "nope", "")) == []
    assert list(venue.process(1, candle(1, 4, 4, 4, 4))) == []  # a cancelled order never fills


def test_a_short_pays_interest_on_the_closes_since_it_opened_charged_from_the_total():
    realism = Realism(exchange_rules=False, partial_fills=False, borrow_rate=0.365, vectorbt_stops=True)
    venue = SimVenue(Costs(0.0, 0.0, 1000.0), realism, FREE, bar_ms=86_400_000)  # 0.1% a day
    venue.submit(SubmitOrder(0, Order("s", "T/USDT", -1, 10.0, live_from_bar=0), 10.0))
    list(venue.process(0, candle(0, 10, 10, 10, 10)))
    venue.learn(candle(0, 10, 10, 10, 10))
    charged = []
    for t, close in enumerate([20.0, 30.0], start=1):
        charged += venue.settle(t * 86_400_000)
        venue.learn(candle(t, close, close, close, close))
    charged += venue.settle(3 * 86_400_000)
    per_close = 10.0 * 0.001  # 10 units, 0.1% of each close
    assert [round(e.accrued, 9) for e in charged] == [round(per_close * 10, 9), round(per_close * 30, 9),
                                                      round(per_close * 60, 9)]
    assert sum(e.amount for e in charged) == pytest.approx(per_close * 60)
    assert venue.account.cash == pytest.approx(1000.0 + 100.0 - per_close * 60)
