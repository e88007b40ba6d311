"""Chaos: a live deployment trading against the emulator (accelerated clock, the real ccxt client, a fault
injected before every round) in a `gauntlet run` process killed with SIGKILL at random moments, half of them
right after it sent an order (between the request and its answer), and started again each time. Then a last
run that ends cleanly (SIGTERM), and the exchange's records against the journal: never two exchange orders for
one client id, nor for one intent; every exchange order of ours journaled; open at the exchange exactly when
open in the journal; the journal's fills the exchange's trades; the books' position and cash the account's.

`make soak` runs it with 200 kills (`GAUNTLET_SOAK_KILLS` sets another count) and a fresh seed."""

from __future__ import annotations

import asyncio
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import astuple
from decimal import Decimal
from pathlib import Path

import pytest

from engine.core.market_rules import MarketRules
from engine.live.exchange import LiveVenue
from engine.live.history import journal_path
from engine.live.journal import Journal
from engine.live.recovery import Reconciliation
from engine.live.runner import load_deployments, session_plan
from engine.live.session import Session
from engine.live.startup import reconcile_session, restore_session
from engine.ohlcv.layout import SeriesKey
from engine.venues.ccxt_client import make_exchange
from engine.venues.ccxt_venue import CcxtVenue, VenueConfig
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator, Fault
from engine.venues.emulator.auth import ApiKey
from engine.venues.emulator.config import TradingConfig
from engine.venues.submission import intent_of
from tests.engine.live.rehearsal import HOUR, btc_feed
from tests.engine.live.test_runner_live import KEY, QUICK, SECRET, live_deployment
from tests.engine.live.venue_truth import account_truth, journal_truth

KILLS = 30
SOAK_KILLS = int(os.environ.get("GAUNTLET_SOAK_KILLS", "200"))
GAUNTLET = Path(sys.executable).parent / "gauntlet"
ORDER = {"path": "/api/v3/order", "method": "POST"}


def faults(rng: random.Random) -> Fault:
    """One misbehaviour of the exchange for the round to meet (most of them where orders are placed)."""
    return rng.choice([
        lambda: Fault("lost_response", **ORDER),
        lambda: Fault("timeout", delay_s=0.6, **ORDER),
        lambda: Fault("status_unknown", placed=rng.random() < 0.5, code=rng.choice([-1006, -1007]), **ORDER),
        lambda: Fault("lost_response", hidden_s=0.8, **ORDER),
        lambda: Fault("invisible", delay_s=0.8, **ORDER),
        lambda: Fault("duplicate", **ORDER),
        lambda: Fault("unavailable", times=2, path="/api/v3/order", method="GET"),
        lambda: Fault("rate_limit", retry_after_s=1, path="/api/v3/myTrades"),
        lambda: Fault("reset", path="/api/v3/openOrders"),
    ])()


class RunnerProcess:
    """`gauntlet run` in its own process, its log lines read as they come."""

    def __init__(self, tmp_path: Path, url: str, speed: float) -> None:
        env = {**os.environ, "GAUNTLET_DATA_DIR": str(tmp_path / "data"), "GAUNTLET_API_KEY": KEY,
               "GAUNTLET_API_SECRET": SECRET, "GAUNTLET_DEPLOYMENTS_DIR": str(tmp_path / "deployments")}
        self.process = subprocess.Popen(
            [str(GAUNTLET), "run", "sma-live", "--api-url", url, "--speed", str(speed), "--stale-after", "5",
             "--recv-window-ms", "1000", "--absent-margin-ms", "500"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, words: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.process.poll() is not None:
                    return False
                continue
            self.log.append(line)
            if words in line:
                return True
        return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.close()

    def close(self) -> None:
        self.process.wait(timeout=30)
        self.reader.join(timeout=10)
        self.process.stderr.close()


async def recovered(tmp_path: Path, emulator: BinanceEmulator) -> tuple[Reconciliation, bool]:
    """A start-up's recovery of the journal the last kill left, as the runner does it (without trading): the books
    from the latest snapshot, then the venue's truth; its verdict, and whether it wrote to the journal."""
    deployment = load_deployments(["sma-live"], tmp_path / "deployments")[0]
    client = make_exchange("binance", api_url=emulator.base_url, rate_limit=False, async_=True, clock=emulator.clock,
                           credentials={"apiKey": KEY, "secret": SECRET})
    with Journal.open(journal_path("sma-live", tmp_path / "data")) as journal:
        venue = CcxtVenue(client, VenueConfig("sma-live", ("BTC/USDT",), QUICK, live=True), journal)
        try:
            await venue.start()
            rules = MarketRules.from_ccxt({**client.markets["BTC/USDT"], "symbol": "BTC/USDT"})
            session = Session(session_plan(deployment, SeriesKey("binance", "BTC/USDT", "1h"), rules),
                              LiveVenue(venue), journal)
            restore_session(session)
            before = (journal.last_seq("sma-live"), [astuple(o) for o in journal.orders("sma-live")])
            result = await reconcile_session(session, emulator.clock.now_ms())
            after = (journal.last_seq("sma-live"), [astuple(o) for o in journal.orders("sma-live")])
            return result, before != after
        finally:
            await venue.close()


def chaos(tmp_path: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    feed = btc_feed()
    candle_s = 0.2 if kills <= 60 else 0.3  # the feed's 6,500 hours last the run
    clock = AcceleratedClock.candle_every(int(feed.ts_ms[400]), HOUR, candle_s)
    live_deployment(tmp_path / "deployments", "sma-live")
    trading = TradingConfig(keys=(ApiKey(KEY, SECRET),), balances={"USDT": Decimal(10_000)})
    between = 0
    with BinanceEmulator([feed], clock=clock, trading=trading) as emulator:
        for _ in range(kills):
            emulator.inject(faults(rng))
            runner = RunnerProcess(tmp_path, emulator.base_url, clock.speed)
            if rng.random() < 0.5 and runner.wait_for('"session.submit"', 12.0):
                time.sleep(rng.uniform(0.0, 0.05))  # the request has left; its answer may not have come
                between += 1
            else:
                runner.wait_for('"runner.ready"', 12.0)
                time.sleep(rng.uniform(0.0, 2.5))
            assert runner.process.poll() is None, "".join(runner.log[-20:])  # killed alive, never halted
            runner.kill()
        emulator.faults.clear()
        (first, _), (second, wrote) = asyncio.run(recovered(tmp_path, emulator)), asyncio.run(recovered(tmp_path, emulator))
        assert first.ok and second.ok and second.repairs == () and not wrote  # run twice, the second changes nothing
        last = RunnerProcess(tmp_path, emulator.base_url, clock.speed)
        assert last.wait_for('"runner.ready"', 30.0), "".join(last.log[-20:])
        time.sleep(2.0)
        last.process.send_signal(signal.SIGTERM)
        last.wait_for('"runner.stopped"', 30.0)
        last.close()
        assert last.process.returncode == 0, "".join(last.log[-30:])
        truth = account_truth(emulator, "sma-live")
    books = journal_truth(tmp_path / "data", "sma-live")
    assert journal_path("sma-live", tmp_path / "data").exists()
    assert between >= kills // 4  # many kills came right after an order was sent
    assert len(truth.orders_per_client_id) >= 10, truth  # the deployment traded throughout
    assert set(truth.orders_per_client_id.values()) == {1}  # no client id on two exchange orders
    per_intent = Counter(intent_of(cid) for cid in truth.orders_per_client_id)
    assert max(per_intent.values()) == 1  # a resend only after its first attempt was proven never placed
    assert set(truth.orders_per_client_id) <= set(books.orders)  # no exchange order unknown to the journal
    assert truth.open == books.open  # nothing open the journal thinks closed, nor the other way round
    assert books.trade_ids == truth.trade_ids
    assert books.position == pytest.approx(truth.balances.get("BTC", 0.0), abs=1e-9)
    assert books.cash == pytest.approx(truth.balances["USDT"], abs=1e-6)


def test_a_live_runner_killed_30_times_leaves_the_journal_equal_to_the_exchange(tmp_path):
    chaos(tmp_path, KILLS, seed=11)


@pytest.mark.soak
def test_a_live_runner_killed_200_times_leaves_the_journal_equal_to_the_exchange(tmp_path):
    seed = random.SystemRandom().randrange(1 << 30)
    print(f"seed {seed}")
    chaos(tmp_path, SOAK_KILLS, seed)
