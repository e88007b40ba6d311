"""The submission protocol's pure parts: when a miss counts, when misses prove an order absent, which id a
resend takes, and what each ccxt error says of an order (ccxt 4.5.90's classes, as measured on the emulator)."""

from __future__ import annotations

import ccxt
import pytest

from engine.core.ids import client_order_id
from engine.core.orders import Order
from engine.venues.ccxt_errors import Outcome, classify, describe, redact
from engine.venues.submission import Phase, ProofPolicy, Submission, Verdict, intent_of, next_attempt

POLICY = ProofPolicy(recv_window_ms=5_000, margin_ms=5_000, confirmations=3)
T = 1_700_000_000_000


def attempt(**fields) -> Submission:
    return Submission(Order(client_order_id("live-btc", T, "entry"), "BTC/USDT", 1, 0.1), T, 5_000, **fields)


def test_misses_count_only_past_timestamp_plus_recv_window_plus_margin_and_k_of_them_prove_absence():
    sub = attempt()
    sub.unknown("RequestTimeout")
    assert POLICY.deadline_ms(T) == T + 10_000 and POLICY.deadline_ms(T, 20_000) == T + 25_000
    assert [sub.observe(False, T + dt, POLICY) for dt in (0, 9_999, 10_000)] == [Verdict.LOOK_AGAIN] * 3
    assert sub.misses == 0  # at the deadline itself nothing counts yet
    assert [sub.observe(False, T + 10_001 + i, POLICY) for i in range(3)] == [Verdict.LOOK_AGAIN, Verdict.LOOK_AGAIN,
                                                                              Verdict.ABSENT]
    assert sub.phase is Phase.ABSENT and "3 look-ups" in sub.proof(POLICY)


def test_an_order_the_exchange_said_exists_is_never_proven_absent_and_a_found_one_is_found():
    sub = attempt()
    sub.unknown("Duplicate order sent.", exists=True)
    assert {sub.observe(False, T + 10**9, POLICY) for _ in range(10)} == {Verdict.LOOK_AGAIN}
    assert sub.observe(True, T, POLICY) is Verdict.FOUND
    assert ProofPolicy(speed=60.0).deadline_ms(T) == T + 600_000  # an accelerated venue clock: its allowance scaled


def test_a_resend_takes_the_next_attempt_of_our_own_ids_only():
    first = client_order_id("live-btc", T, "stop_loss")
    assert next_attempt(first, "live-btc") == (client_order_id("live-btc", T, "stop_loss", 1), 1)
    assert next_attempt(first, "other-deployment") is None and next_attempt("by-hand-1", "live-btc") is None
    assert intent_of(first) == intent_of(client_order_id("live-btc", T, "stop_loss", 7)) != intent_of(
        client_order_id("live-btc", T, "entry"))
    sub = attempt()
    assert sub.unreported(["1", "2"]) == ["1", "2"] and sub.unreported(["2", "3"]) == ["3"]


@pytest.mark.parametrize(("error", "outcome"), [
    (ccxt.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}'), Outcome.NOT_FOUND),
    (ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), Outcome.EXISTS),
    (ccxt.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}'), Outcome.REFUSED),
    (ccxt.BadRequest('binance {"code":-1013,"msg":"Filter failure: NOTIONAL"}'), Outcome.REFUSED),
    (ccxt.InsufficientFunds('binance {"code":-2010,"msg":"Account has insufficient balance"}'), Outcome.REFUSED),
    (ccxt.AuthenticationError('binance {"code":-1022,"msg":"Signature for this request is not valid."}'),
     Outcome.REFUSED),
    (ccxt.DDoSProtection("binance 429 Too Many Requests"), Outcome.RATE_LIMITED),
    (ccxt.InvalidNonce('binance {"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}'),
     Outcome.STALE),
    (ccxt.RequestTimeout('binance {"code":-1007,"msg":"Timeout waiting for response"}'), Outcome.UNKNOWN),
    (ccxt.OperationFailed('binance {"code":-1006,"msg":"Execution status unknown."}'), Outcome.UNKNOWN),
    (ccxt.ExchangeNotAvailable("binance POST http://127.0.0.1/api/v3/order"), Outcome.UNKNOWN),
    (ccxt.ExchangeError("binance something new"), Outcome.UNKNOWN),
])
def test_what_each_ccxt_error_says_of_an_order(error, outcome):
    assert classify(error) is outcome


def test_a_described_error_keeps_the_exchanges_words_and_drops_anything_signed():
    timeout = ccxt.RequestTimeout("binance GET http://127.0.0.1:1/api/v3/order?timestamp=1&symbol=BTCUSDT"
                                  "&origClientOrderId=x&recvWindow=1000&signature=9cc2f971 request timed out")
    assert describe(timeout) == "RequestTimeout: binance GET http://127.0.0.1:1/api/v3/order request timed out"
    assert describe(ccxt.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}')) == \
        "Filter failure: LOT_SIZE"
    assert redact("headers {'X-MBX-APIKEY': 'k-123'} body a=1&signature=abc", ["k-123"]) == \
        "headers {'X-MBX-APIKEY': '…'} body a=1&signature=…"


def test_the_ccxt_venue_offers_the_async_venue_surface():
    import inspect

    from engine.venues.ccxt_venue import CcxtVenue
    from engine.venues.protocol import AsyncVenue

    for name in ("submit", "cancel", "order", "open_orders", "trades_since", "balances"):
        ours, theirs = getattr(CcxtVenue, name), getattr(AsyncVenue, name)
        assert inspect.iscoroutinefunction(ours)
        assert inspect.signature(ours) == inspect.signature(theirs), name
