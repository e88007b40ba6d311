"""The emulator trades with ccxt's unmodified binance class: every order type, hand-checked fills (the open in
progress with the engine's slippage, Binance's 0.1 % commission in the asset received) and balances."""

from __future__ import annotations

import asyncio

import ccxt
import pytest

from engine.venues.emulator import ApiKey, BinanceEmulator
from tests.engine.venues.conftest import KEY, MINUTE, NOW, SECRET, START, account, client, minute_feed


def balance(ex, asset: str) -> tuple[float, float]:
    entry = ex.fetch_balance()[asset]
    return entry["free"], entry["used"]


def test_market_orders_fill_at_the_open_in_progress_and_pay_commission_in_the_asset_received(exchange, ex):
    buy = ex.create_order("BTC/USDT", "market", "buy", 0.5)  # the 00:05 candle opened at 100; slippage 0.05 %
    assert (buy["status"], buy["filled"], buy["average"], buy["cost"]) == ("closed", 0.5, 100.05, 50.025)
    assert buy["fee"] == {"currency": "BTC", "cost": 0.0005} and buy["timestamp"] == NOW
    assert balance(ex, "USDT") == (9949.975, 0.0) and balance(ex, "BTC") == (1.4995, 0.0)
    sell = ex.create_order("BTC/USDT", "market", "sell", 0.4)
    assert (sell["average"], sell["cost"], sell["fee"]) == (99.95, 39.98, {"currency": "USDT", "cost": 0.03998})
    assert balance(ex, "USDT") == (9989.91502, 0.0) and balance(ex, "BTC") == (1.0995, 0.0)
    rest = ex.create_order("BTC/USDT", "market", "buy", 0.5)  # 10 % of the last candle's 10 BTC, 0.9 taken
    assert (rest["status"], rest["filled"]) == ("expired", 0.1)
    trades = ex.fetch_my_trades("BTC/USDT")
    assert [(t["side"], t["amount"], t["fee"]["currency"], t["takerOrMaker"]) for t in trades] == [
        ("buy", 0.5, "BTC", "taker"), ("sell", 0.4, "USDT", "taker"), ("buy", 0.1, "BTC", "taker")]


def test_a_quote_amount_buys_whole_lots_of_what_it_can_pay(ex):
    order = ex.create_market_buy_order_with_cost("BTC/USDT", 50)
    assert (order["status"], order["amount"], order["filled"], order["cost"]) == ("closed", 0.49975, 0.49975, 49.9999875)
    assert order["fee"] == {"currency": "BTC", "cost": 0.00049975}
    assert balance(ex, "USDT") == (9950.0000125, 0.0)


def test_a_limit_order_rests_locked_and_is_found_listed_and_cancelled_by_client_id(exchange, ex):
    placed = ex.create_order("BTC/USDT", "limit", "buy", 0.5, 99.5, {"clientOrderId": "mine-1"})
    assert (placed["status"], placed["clientOrderId"], placed["filled"]) == ("open", "mine-1", 0.0)
    assert balance(ex, "USDT") == (9950.25, 49.75)  # 0.5 × 99.5 set aside
    found = ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "mine-1"})
    assert (found["id"], found["status"], found["price"]) == (placed["id"], "open", 99.5)
    assert [o["clientOrderId"] for o in ex.fetch_open_orders("BTC/USDT")] == ["mine-1"]
    assert [o["clientOrderId"] for o in ex.fetch_open_orders()] == ["mine-1"]  # every market
    cancelled = ex.cancel_order(None, "BTC/USDT", {"clientOrderId": "mine-1"})
    assert cancelled["status"] == "canceled" and cancelled["info"]["origClientOrderId"] == "mine-1"
    assert balance(ex, "USDT") == (10000.0, 0.0) and ex.fetch_open_orders("BTC/USDT") == []
    assert [(o["clientOrderId"], o["status"]) for o in ex.fetch_orders("BTC/USDT")] == [("mine-1", "canceled")]


def test_a_resting_limit_fills_as_maker_when_a_closed_candle_trades_through_it_partially_by_volume(exchange, ex):
    order = ex.create_order("BTC/USDT", "limit", "buy", 2.5, 99.5, {"clientOrderId": "big"})
    assert ex.fetch_order(order["id"], "BTC/USDT")["filled"] == 0.0  # the 00:05 candle has not closed
    exchange.clock.set(START + 6 * MINUTE)  # it closes: its low 99 traded through 99.5
    first = ex.fetch_order(order["id"], "BTC/USDT")
    assert (first["status"], first["filled"], first["info"]["status"]) == ("open", 1.0, "PARTIALLY_FILLED")
    exchange.clock.set(START + 8 * MINUTE + 30_000)
    done = ex.fetch_order(order["id"], "BTC/USDT")
    assert (done["status"], done["filled"], done["cost"]) == ("closed", 2.5, 248.75)
    trades = ex.fetch_my_trades("BTC/USDT")
    assert [(t["amount"], t["price"], t["timestamp"], t["takerOrMaker"]) for t in trades] == [
        (1.0, 99.5, START + 6 * MINUTE, "maker"), (1.0, 99.5, START + 7 * MINUTE, "maker"),
        (0.5, 99.5, START + 8 * MINUTE, "maker")]  # a tenth of each candle's 10 BTC, at each close
    assert balance(ex, "BTC") == (1 + 2.5 - 0.0025, 0.0) and balance(ex, "USDT") == (10000 - 248.75, 0.0)


def test_stop_limits_trigger_as_binance_has_them_in_the_order_they_were_placed(exchange, ex):
    stop = ex.create_order("BTC/USDT", "limit", "sell", 0.5, 99.0, {"stopLossPrice": 99.2})
    take = ex.create_order("BTC/USDT", "limit", "sell", 0.5, 100.8, {"takeProfitPrice": 100.8})
    assert [o["info"]["type"] for o in (stop, take)] == ["STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
    waiting = ex.fetch_order(stop["id"], "BTC/USDT")
    assert (waiting["status"], waiting["triggerPrice"], waiting["info"]["isWorking"]) == ("open", 99.2, False)
    assert balance(ex, "BTC") == (0.0, 1.0)
    exchange.clock.set(START + 6 * MINUTE)  # the candle fell to 99 and rose to 101: both triggered, both crossed
    stopped, took = (ex.fetch_order(o["id"], "BTC/USDT") for o in (stop, take))
    assert (stopped["status"], stopped["average"]) == ("closed", 99.15)  # 99.2 less slippage, above its 99.0
    assert (took["status"], took["average"]) == ("closed", 100.8)  # never below its limit
    assert balance(ex, "USDT") == (10099.875025, 0.0)  # 10000 + 49.575 + 50.4 less 0.1 % of each
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="Order would trigger immediately"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.1, 99.0, {"stopLossPrice": 99.0})  # a buy stop below 100


def test_immediate_or_cancel_and_fill_or_kill(exchange, ex):
    ioc = ex.create_order("BTC/USDT", "limit", "buy", 1.5, 100.1, {"timeInForce": "IOC"})
    assert (ioc["status"], ioc["filled"], ioc["average"]) == ("expired", 1.0, 100.05)  # all the depth there was
    exchange.clock.set(START + 6 * MINUTE + 1)  # a new candle, new depth
    killed = ex.create_order("BTC/USDT", "limit", "buy", 1.5, 100.1, {"timeInForce": "FOK"})
    assert (killed["status"], killed["filled"]) == ("expired", 0.0)
    filled = ex.create_order("BTC/USDT", "limit", "buy", 0.8, 100.1, {"timeInForce": "FOK"})
    assert (filled["status"], filled["filled"]) == ("closed", 0.8)  # the killed order took no volume
    assert balance(ex, "USDT")[1] == 0.0
    missed = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 99.0, {"timeInForce": "IOC"})
    assert (missed["status"], missed["filled"]) == ("expired", 0.0)


def test_a_post_only_order_that_would_take_is_refused_and_one_that_rests_is_a_maker(ex):
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="Order would immediately match and take"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.1, 100.5, {"postOnly": True})
    maker = ex.create_order("BTC/USDT", "limit", "buy", 0.1, 99.5, {"postOnly": True})
    assert maker["postOnly"] and maker["status"] == "open"


def test_api_restrictions_and_the_account_say_what_each_key_may_do():
    keys = (ApiKey(KEY, SECRET), ApiKey("withdrawing-key", "other-secret", can_withdraw=True, ip_restricted=False))
    with BinanceEmulator([minute_feed(10)], now_ms=NOW, trading=account(keys=keys)) as emulator:
        safe, risky = client(emulator), client(emulator, key="withdrawing-key", secret="other-secret")
        assert [(r["enableWithdrawals"], r["ipRestrict"], r["enableSpotAndMarginTrading"]) for r in
                (safe.sapi_get_account_apirestrictions(), risky.sapi_get_account_apirestrictions())] == [
            (False, True, True), (True, False, True)]
        assert [c.fetch_balance()["info"]["canWithdraw"] for c in (safe, risky)] == [False, True]


def test_the_async_client_trades_concurrently(exchange):
    async def run() -> tuple:
        ex = client(exchange, async_=True)
        try:
            orders = await asyncio.gather(*(ex.create_order("BTC/USDT", "limit", "buy", 0.1, 99.0 + i / 10,
                                                            {"clientOrderId": f"a-{i}"}) for i in range(4)))
            found, listed, restrictions = await asyncio.gather(
                ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "a-2"}), ex.fetch_open_orders("BTC/USDT"),
                ex.sapi_get_account_apirestrictions())
            await asyncio.gather(*(ex.cancel_order(o["id"], "BTC/USDT") for o in orders))
            return found, listed, restrictions, await ex.fetch_balance(), await ex.fetch_open_orders("BTC/USDT")
        finally:
            await ex.close()

    found, listed, restrictions, balances, after = asyncio.run(run())
    assert found["price"] == 99.2 and len(listed) == 4 and restrictions["enableWithdrawals"] is False
    assert balances["USDT"]["used"] == 0.0 and after == []
    assert len({o["id"] for o in listed}) == 4
