"""Each injected fault as a ccxt client meets it, and what the exchange did meanwhile: whether the order
exists, found by its client id. ccxt 4.5.90's classes are asserted, because the venue's retries rely on them."""

from __future__ import annotations

import time

import ccxt
import pytest

from engine.venues.emulator import Fault
from tests.engine.venues.conftest import client

ORDER = ("BTC/USDT", "limit", "buy", 0.1, 99.0)
PLACE = {"path": "/api/v3/order", "method": "POST"}


def orders_named(exchange, client_id: str) -> list:
    return [o for o in exchange.book.orders.values() if o.client_id == client_id]


@pytest.mark.parametrize(("fault", "raised", "placed"), [
    (Fault("rate_limit", retry_after_s=2, **PLACE), ccxt.DDoSProtection, False),  # 429: not RateLimitExceeded
    (Fault("ip_ban", **PLACE), ccxt.DDoSProtection, False),  # 418
    (Fault("unavailable", **PLACE), ccxt.OperationFailed, False),  # 503 -1001: not a NetworkError in ccxt
    (Fault("reset", **PLACE), ccxt.NetworkError, False),
    (Fault("truncate", **PLACE), ccxt.NetworkError, True),  # the order was placed; its answer cut in half
    (Fault("lost_response", **PLACE), ccxt.NetworkError, True),  # accepted, then the connection dropped
    (Fault("status_unknown", **PLACE), ccxt.RequestTimeout, True),  # -1007, placed
    (Fault("status_unknown", code=-1006, placed=False, **PLACE), ccxt.OperationFailed, False),  # -1006, not placed
])
def test_a_fault_on_placement_leaves_the_order_placed_or_not_as_the_exchange_acted(exchange, ex, fault, raised, placed):
    exchange.inject(fault)
    with pytest.raises(raised) as caught:
        ex.create_order(*ORDER, {"clientOrderId": "unsure"})
    if fault.kind == "rate_limit":
        assert "429" in str(caught.value)
    assert len(orders_named(exchange, "unsure")) == int(placed)
    if placed:  # what the venue must do: look it up by client id
        assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "unsure"})["status"] == "open"
    else:
        with pytest.raises(ccxt.OrderNotFound):
            ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "unsure"})


def test_a_timed_out_request_is_processed_after_the_client_gave_up(exchange):
    ex = client(exchange, timeout_ms=200)
    ex.load_markets()
    exchange.inject(Fault("timeout", delay_s=0.6, **PLACE))
    with pytest.raises(ccxt.RequestTimeout):
        ex.create_order(*ORDER, {"clientOrderId": "late"})
    assert orders_named(exchange, "late") == []  # not yet
    time.sleep(0.8)
    assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "late"})["status"] == "open"


def test_an_order_is_invisible_to_queries_for_a_while_after_it_was_placed(exchange, ex):
    exchange.inject(Fault("invisible", delay_s=0.8))
    placed = ex.create_order("BTC/USDT", "market", "buy", 0.1, params={"clientOrderId": "lagging"})
    assert placed["status"] == "closed"  # the answer came back whole
    with pytest.raises(ccxt.OrderNotFound):  # Binance's "Memory => Database" lag: -2013
        ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "lagging"})
    assert ex.fetch_orders("BTC/USDT") == [] and ex.fetch_my_trades("BTC/USDT") == []
    time.sleep(0.9)
    assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "lagging"})["filled"] == 0.1
    assert len(ex.fetch_my_trades("BTC/USDT")) == 1


def test_an_invisible_resting_order_is_still_known_to_the_matching_engine(exchange, ex):
    exchange.inject(Fault("invisible", delay_s=5))
    ex.create_order(*ORDER, {"clientOrderId": "hidden"})
    assert ex.fetch_open_orders("BTC/USDT") == []
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order(*ORDER, {"clientOrderId": "hidden"})
    assert ex.cancel_order(None, "BTC/USDT", {"clientOrderId": "hidden"})["status"] == "canceled"


def test_a_duplicated_delivery_of_a_resting_order_answers_duplicate_order_sent(exchange, ex):
    exchange.inject(Fault("duplicate", **PLACE))
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order(*ORDER, {"clientOrderId": "twice"})
    assert len(orders_named(exchange, "twice")) == 1  # the first delivery placed it; fetch it
    assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "twice"})["status"] == "open"


def test_a_duplicated_market_order_fills_twice_because_binance_client_ids_are_unique_among_open_orders_only(exchange, ex):
    exchange.inject(Fault("duplicate", **PLACE))
    second = ex.create_order("BTC/USDT", "market", "buy", 0.1, params={"clientOrderId": "again"})
    assert second["status"] == "closed" and len(orders_named(exchange, "again")) == 2
    assert len(ex.fetch_my_trades("BTC/USDT")) == 2


def test_faults_count_down_after_their_skip_and_never_touch_other_paths(exchange, ex):
    ex.load_markets()
    exchange.inject(Fault("unavailable", times=2, skip=1, path="/api/v3/account"))
    assert ex.fetch_balance()["USDT"]["free"] == 10000.0  # skipped
    for _ in range(2):
        with pytest.raises(ccxt.OperationFailed):
            ex.fetch_balance()
    assert ex.fetch_open_orders("BTC/USDT") == [] and ex.fetch_balance()["USDT"]["free"] == 10000.0
    assert Fault.parse("rate_limit,times=forever,path=/api/v3/klines,retry_after_s=2") == Fault(
        "rate_limit", times=None, path="/api/v3/klines", retry_after_s=2)
    assert Fault.parse("status_unknown,code=-1006,placed=false") == Fault("status_unknown", code=-1006, placed=False)
    with pytest.raises(ValueError, match="KIND"):
        Fault.parse("reset,meteor=1")


def test_a_lost_answer_can_come_with_the_database_lag(exchange, ex):
    exchange.inject(Fault("lost_response", hidden_s=0.6, **PLACE))
    with pytest.raises(ccxt.NetworkError):
        ex.create_order(*ORDER, {"clientOrderId": "lost-and-hidden"})
    assert len(orders_named(exchange, "lost-and-hidden")) == 1  # placed ...
    with pytest.raises(ccxt.OrderNotFound):  # ... and not to be found yet
        ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "lost-and-hidden"})
    time.sleep(0.7)
    assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "lost-and-hidden"})["status"] == "open"
    assert Fault.parse("lost_response,hidden_s=2.5") == Fault("lost_response", hidden_s=2.5)
