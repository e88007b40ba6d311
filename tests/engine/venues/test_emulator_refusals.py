"""The emulator refuses as Binance refuses — the same HTTP status, code and words as the real and documented
bodies in shared/data — and ccxt 4.5.90 turns each refusal into the exception it raises against Binance."""

from __future__ import annotations

import json

import ccxt
import pytest

from engine.venues.ccxt_client import make_exchange
from engine.venues.clock import HistoricalClock
from tests.conftest import SHARED_DATA
from tests.engine.venues.conftest import KEY, SECRET, client, signed

FIXTURES = SHARED_DATA / "fixtures" / "binance_spot"
ERRORS = {e["id"]: (e["http_status"], e["body"]) for e in json.loads((FIXTURES / "error_responses.json").read_text())["errors"]}
DOCS = FIXTURES / "binance_docs" / "official_examples"
ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.5", "price": "99.5"}


def example(name: str) -> object:
    return json.loads((DOCS / f"{name}.json").read_text())["example"]


@pytest.mark.parametrize(("fixture", "change"), [
    ("filter_lot_size", {"quantity": "9000.5"}),  # above maxQty
    ("filter_lot_size", {"quantity": "0.123456"}),  # not a whole number of 0.00001 steps
    ("filter_price", {"price": "99.555"}),  # not on the 0.01 tick
    ("filter_notional", {"quantity": "0.01"}),  # 0.995 USDT, the minimum is 5
    ("insufficient_balance", {"quantity": "101"}),  # 10049.5 USDT with 10000
])
def test_order_refusals_have_binance_status_code_and_words(exchange, fixture, change):
    assert signed(exchange, "POST", "/api/v3/order", ORDER | change) == ERRORS[fixture]
    assert exchange.book.open_orders(None, exchange.clock.now_ms()) == []


def test_unknown_orders_signatures_and_timestamps_have_binance_bodies(exchange):
    assert signed(exchange, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 99}) == ERRORS["query_no_such_order"]
    assert signed(exchange, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 99}) == ERRORS["cancel_unknown_order"]
    assert signed(exchange, "GET", "/api/v3/account", {}, secret="wrong") == ERRORS["bad_signature"]
    assert signed(exchange, "GET", "/api/v3/account", {}, key="nobody") == ERRORS["bad_api_key_or_permissions"]
    stale = exchange.clock.now_ms() - 6_000  # the default recvWindow is 5000 ms
    assert signed(exchange, "GET", "/api/v3/account", {"timestamp": stale}) == ERRORS["timestamp_outside_recvwindow"]
    assert signed(exchange, "GET", "/api/v3/account", {}, key=None) == (401, {"code": -2014, "msg": "API-key format invalid."})
    assert signed(exchange, "GET", "/api/v3/account", {"recvWindow": 60_001})[1]["code"] == -1131


def test_a_test_order_is_checked_like_an_order_and_never_placed(exchange):
    assert signed(exchange, "POST", "/api/v3/order/test", ORDER) == (200, {})
    assert signed(exchange, "POST", "/api/v3/order/test", ORDER | {"price": "99.555"}) == ERRORS["filter_price"]
    assert signed(exchange, "GET", "/api/v3/openOrders", {}) == (200, [])
    assert signed(exchange, "GET", "/api/v3/allOrders", {"symbol": "DOGEUSDT"}) == (400, {"code": -1121,
                                                                                          "msg": "Invalid symbol."})


def test_bodies_have_every_field_of_binance_documented_examples_with_the_same_types(exchange):
    def same_shape(ours: dict, theirs: dict) -> None:
        assert set(theirs) <= set(ours), set(theirs) - set(ours)
        assert {k: type(ours[k]) for k in theirs} == {k: type(v) for k, v in theirs.items()}

    _, placed = signed(exchange, "POST", "/api/v3/order", ORDER | {"newClientOrderId": "shape"})
    same_shape(placed, example("order_post_RESULT") | {"fills": []})
    _, filled = signed(exchange, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                           "quantity": "0.1"})
    same_shape(filled, example("order_post_FULL"))
    same_shape(filled["fills"][0], example("order_post_FULL")["fills"][0])
    _, ack = signed(exchange, "POST", "/api/v3/order", ORDER | {"newOrderRespType": "ACK", "price": "99.4"})
    assert set(ack) == set(example("order_post_ACK"))
    same_shape(signed(exchange, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "shape"})[1],
               example("order_get"))
    same_shape(signed(exchange, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})[1][0], example("openOrders_get")[0])
    same_shape(signed(exchange, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"})[1][0], example("allOrders")[0])
    same_shape(signed(exchange, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})[1][0], example("myTrades")[0])
    account = signed(exchange, "GET", "/api/v3/account", {})[1]
    same_shape(account, example("account"))
    same_shape(account["balances"][0], example("account")["balances"][0])
    same_shape(signed(exchange, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "shape"})[1],
               example("order_delete"))


def test_ccxt_raises_for_each_refusal_the_exception_it_raises_against_binance(exchange, ex):
    """ccxt 4.5.90's mapping, checked here because the venue's retry policy depends on it: -2010 is
    InvalidOrder (InsufficientFunds by its words), -1013 InvalidOrder when the body names LOT_SIZE or
    PRICE_FILTER and BadRequest for NOTIONAL, "Duplicate order sent." InvalidOrder (not DuplicateOrderId)."""
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("BTC/USDT", "limit", "buy", 101, 99.5)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        ex.create_order("BTC/USDT", "limit", "buy", 9000.5, 1)
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.001, 2_000_000)  # above maxPrice
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 99.5)
    ex.create_order("BTC/USDT", "limit", "buy", 0.1, 99.5, {"clientOrderId": "once"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent") as duplicate:
        ex.create_order("BTC/USDT", "limit", "buy", 0.1, 99.5, {"clientOrderId": "once"})
    assert not isinstance(duplicate.value, ccxt.DuplicateOrderId)
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order("99", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order("99", "BTC/USDT")
    ex.cancel_order(None, "BTC/USDT", {"clientOrderId": "once"})
    again = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 99.5, {"clientOrderId": "once"})  # unique among open ones
    assert again["status"] == "open"


def test_ccxt_raises_authentication_and_nonce_errors(exchange):
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        client(exchange, secret="wrong").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client(exchange, key="nobody").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-2014"):
        client(exchange, key="has space").fetch_balance()
    wall = make_exchange("binance", api_url=exchange.base_url, rate_limit=False,
                         credentials={"apiKey": KEY, "secret": SECRET})  # signs with the wall clock, years later
    with pytest.raises(ccxt.InvalidNonce, match="ahead of the server"):
        wall.fetch_balance()
    late = client(exchange, clock=HistoricalClock(exchange.clock.now_ms() - 11_000))  # ccxt's recvWindow is 10 s
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        late.fetch_balance()
    assert client(exchange, key=KEY, secret=SECRET).fetch_balance()["USDT"]["free"] == 10000.0
