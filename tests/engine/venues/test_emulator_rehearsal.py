"""An accelerated emulator: candles close every few wall milliseconds, resting orders fill as the clock passes
them (partially, by volume, then fully), and never from a candle that has not closed by "now"."""

from __future__ import annotations

import time

from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator
from tests.engine.venues.conftest import MINUTE, NOW, account, client, minute_feed


def test_a_resting_limit_fills_partially_then_fully_as_the_accelerated_clock_passes_candles():
    clock = AcceleratedClock.candle_every(NOW, MINUTE, 0.1)  # a 1m candle closes every 100 ms
    with BinanceEmulator([minute_feed()], clock=clock, trading=account()) as emulator:
        ex = client(emulator)
        order = ex.create_order("BTC/USDT", "limit", "buy", 2.5, 99.5, {"clientOrderId": "patient"})
        seen, deadline = [], time.monotonic() + 5
        while time.monotonic() < deadline:
            state = ex.fetch_order(order["id"], "BTC/USDT")
            seen.append((state["info"]["status"], state["filled"]))
            if state["status"] == "closed":
                break
            time.sleep(0.01)
        trades = ex.fetch_my_trades("BTC/USDT")
        now = clock.now_ms()
    assert ("PARTIALLY_FILLED", 1.0) in seen or ("PARTIALLY_FILLED", 2.0) in seen
    assert seen[-1] == ("FILLED", 2.5) and [filled for _, filled in seen] == sorted(filled for _, filled in seen)
    close = (order["timestamp"] // MINUTE + 1) * MINUTE  # the close of the candle in progress when it was placed
    assert [(t["amount"], t["price"], t["timestamp"]) for t in trades] == [
        (1.0, 99.5, close), (1.0, 99.5, close + MINUTE), (0.5, 99.5, close + 2 * MINUTE)]
    assert all(t["timestamp"] <= now for t in trades)  # each at the close of the candle that made it


def test_signed_requests_stay_inside_recv_window_at_any_speed():
    clock = AcceleratedClock(NOW, 60_000)  # a minute per wall millisecond: ccxt's 10 s recvWindow is 0.17 ms
    with BinanceEmulator([minute_feed(100_000)], clock=clock, trading=account()) as emulator:
        ex = client(emulator)
        assert ex.fetch_balance()["USDT"]["free"] == 10000.0  # the window is wall time: networks do not speed up
        assert ex.create_order("BTC/USDT", "market", "buy", 0.1)["status"] == "closed"
