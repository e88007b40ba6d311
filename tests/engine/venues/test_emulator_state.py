"""The emulator's account outlives its clients (it lives in the server) and, with a state file, the emulator's
own restarts: the same open orders, balances and trades, and matching goes on from where it stopped."""

from __future__ import annotations

import json

import pytest

from engine.venues.emulator import BinanceEmulator
from tests.engine.venues.conftest import MINUTE, NOW, SECRET, START, account, client, minute_feed


def test_state_survives_a_client_crash_and_the_emulator_restarting(tmp_path):
    path = tmp_path / "emulator-state.json"
    with BinanceEmulator([minute_feed()], now_ms=NOW, trading=account(state_path=path)) as emulator:
        ex = client(emulator)
        ex.create_order("BTC/USDT", "market", "buy", 0.5, params={"clientOrderId": "bought"})
        ex.create_order("BTC/USDT", "limit", "buy", 1.5, 99.5, {"clientOrderId": "resting"})
        ex.create_order("BTC/USDT", "limit", "sell", 0.2, 100.9, {"clientOrderId": "offer"})
        emulator.clock.set(START + 6 * MINUTE)  # "resting" takes 0.5 of the candle (0.5 went to the market buy)
        before = client(emulator).fetch_balance()  # a new client: what the crashed one left is all there
        open_before = {o["clientOrderId"]: o["filled"] for o in client(emulator).fetch_open_orders("BTC/USDT")}
    assert open_before == {"resting": 0.5, "offer": 0.0}
    assert SECRET not in path.read_text() and json.loads(path.read_text())["next_order_id"] == 4

    with BinanceEmulator([minute_feed()], now_ms=START + 6 * MINUTE, trading=account(state_path=path)) as emulator:
        ex = client(emulator)
        after = ex.fetch_balance()
        assert {o["clientOrderId"]: o["filled"] for o in ex.fetch_open_orders("BTC/USDT")} == open_before
        assert [(a, after[a]["free"], after[a]["used"]) for a in ("BTC", "USDT")] == [
            (a, before[a]["free"], before[a]["used"]) for a in ("BTC", "USDT")]
        assert len(ex.fetch_my_trades("BTC/USDT")) == 2
        emulator.clock.set(START + 7 * MINUTE)  # matching goes on: the next candle fills the rest
        assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "resting"})["status"] == "closed"
        assert ex.create_order("BTC/USDT", "limit", "buy", 0.1, 99.0)["id"] == "4"  # ids go on too


@pytest.mark.parametrize("make, words", [
    (lambda p: p.mkdir(), "not a file; give the state file's path"),
    (lambda p: p.write_text("garbage{"), "not an emulator state file"),
])
def test_a_state_path_that_is_not_a_state_file_is_refused_by_name_and_left_alone(tmp_path, make, words):
    path = tmp_path / "state.json"
    make(path)
    before = path.read_text() if path.is_file() else None
    with pytest.raises(ValueError, match=words) as refused:
        BinanceEmulator([minute_feed()], trading=account(state_path=path)).start()
    assert str(path) in str(refused.value)
    assert (path.read_text() if path.is_file() else None) == before  # nothing overwritten
