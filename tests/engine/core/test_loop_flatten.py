"""`Loop.flatten`, the kill switch's close: one reduce-only market order for the whole position, announced by a
`FlattenOrdered`, and nothing at all (no order, no event) when there is nothing it may send: flat books, a
market close already open, or a position smaller than the exchange trades."""

from __future__ import annotations

import pytest

from engine.core.costs import Costs
from engine.core.events import FlattenOrdered, OrderAccepted, OrderFilled
from engine.core.ids import client_order_id, parse_client_id
from engine.core.loop import Decision, Loop, LoopConfig
from engine.core.market_rules import MarketRules
from engine.core.realism import Realism

TS, HOUR = 1_700_000_000_000, 3_600_000
RULES = MarketRules("BTC/USDT", qty_step=0.001, px_tick=0.01, min_qty=0.001, min_notional=5.0)


def _long(quote: float = 1_000.0, fill_qty: float = 0.02) -> Loop:
    """A loop holding what one long entry filled: `fill_qty` BTC at 50,000."""
    loop = Loop(LoopConfig(Costs(0.001, 0.0, 10_000.0), Realism.ideal(), RULES, scope="dep", bar_ms=HOUR))
    loop.on_open(1, TS)
    [entry] = loop.on_decision(Decision(1, TS, 0, TS - HOUR, (True, False, False, False), quote / 10_000.0,
                                        (float("nan"), float("nan")), 50_000.0))
    cid = entry.order.client_id
    loop.on_event(OrderAccepted(TS, cid, "v1"))
    loop.on_event(OrderFilled(TS, cid, fill_qty, 50_000.0, 0.0, "USDT", "t1", True))
    loop.on_close(1, TS)
    loop.on_open(2, TS + HOUR)
    return loop


def test_the_whole_position_goes_in_one_reduce_only_market_order_announced_first():
    loop = _long()
    events = len(loop.events)
    [command] = loop.flatten(50_500.0, "exchange incident")
    order = command.order
    assert (order.side, order.qty, order.reduce_only, order.type.value, command.last_px) == (-1, 0.02, True, "market",
                                                                                             50_500.0)
    assert order.client_id == client_order_id("dep", TS + HOUR, "flatten") and parse_client_id(order.client_id).role \
        == "flatten"
    assert [e.kind for e in loop.events[events:]] == ["flatten_ordered", "order_submitted"]
    assert loop.events[events] == FlattenOrdered(TS + HOUR, order.client_id, 0.02, "exchange incident")
    assert loop.flatten(50_500.0, "again") == [] and len(loop.events) == events + 2  # its close is open: nothing
    loop.on_event(OrderAccepted(TS + HOUR, order.client_id, "v2"))
    loop.on_event(OrderFilled(TS + HOUR, order.client_id, 0.02, 50_500.0, 1.01, "USDT", "t2", True))
    assert loop.ledger.qty == 0 and not loop.open
    assert loop.flatten(50_500.0, "again") == [] and loop.events[-1].kind == "order_filled"  # flat: nothing


@pytest.mark.parametrize("px", [0.0, 100.0], ids=["no price yet", "worth less than the minimum notional"])
def test_a_position_the_exchange_would_refuse_to_trade_is_left_alone(px):
    loop = _long()
    events = len(loop.events)
    assert loop.flatten(px, "exchange incident") == [] and len(loop.events) == events
