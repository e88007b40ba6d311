"""The runner under SIGKILL: a paper deployment trading real BTC/USDT 1h candles from the emulator (accelerated
clock, the runner in its own process) is killed at random moments — while it starts and re-drives, while it
catches up, while it waits — and started again, each time. Afterwards: every candle handled once and none
skipped, no client id sent twice, no fill lost or booked twice, the books equal replay's over the same candles
(which a test proves equal to an uninterrupted paper run), and recovering twice from a killed journal changes
no row of it."""

from __future__ import annotations

import asyncio
import os
import queue
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from engine.core.market_rules import rules_from_sources
from engine.live.cache import LiveCache
from engine.live.history import journal_path
from engine.live.journal import Journal
from engine.live.runner import paper_session, session_plan
from engine.live.startup import restore_session, resume_session
from engine.ohlcv import SeriesKey, Store
from engine.venues.ccxt_client import make_exchange
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator
from tests.engine.live.rehearsal import HOUR, btc_feed, journal_books, paper_deployment, replay_books, replay_of

ROOT = Path(__file__).resolve().parents[3]
GAUNTLET = str(Path(sys.executable).parent / "gauntlet")
EVERY_S = 0.05  # an hour of candles every 50 ms of wall time
TABLES = ("events", "orders", "fills", "snapshots", "equity")


class Runner:
    """`gauntlet run` in a child process, its JSON log lines read as they come."""

    def __init__(self, places: Path, emulator: BinanceEmulator, clock: AcceleratedClock, until_ms: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GAUNTLET_DATA_DIR": str(places / "data"),
               "GAUNTLET_DEPLOYMENTS_DIR": str(places / "deployments")}
        until = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(until_ms / 1000))
        self.process = subprocess.Popen(
            [GAUNTLET, "run", "sma-kill", "--api-url", emulator.base_url, "--speed", str(clock.speed), "--until", until,
             "--snapshot-every", "10", "--stale-after", "100000"], cwd=ROOT, env=env, stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, word: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if word in self.lines.get(timeout=0.1):
                    return
            except queue.Empty:
                assert self.process.poll() is None, f"the runner exited with {self.process.returncode}"
        raise AssertionError(f"no {word} within {timeout_s} s")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        assert self.finish() == -9

    def finish(self, timeout_s: float = 30.0) -> int:
        code = self.process.wait(timeout=timeout_s)
        self.pump.join(timeout=10)
        self.process.stderr.close()
        return code


def _rows(path: Path) -> dict[str, list[tuple]]:
    with closing(sqlite3.connect(path)) as connection:
        return {table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in TABLES}


async def _recover(places: Path, deployment, base_url: str) -> int:
    """Start-up's recovery alone (snapshot, cache, re-drive), as the runner does it, writing nothing."""
    key = SeriesKey("binance", "BTC/USDT", "1h")
    store = Store(places / "data")
    cache = LiveCache(store, key)
    await asyncio.to_thread(cache.fill, make_exchange("binance", api_url=base_url, rate_limit=False), 0)
    rules, _ = rules_from_sources(key.symbol, store.require(key).sources)
    with Journal.open(journal_path("sma-kill", places / "data")) as journal:
        session = paper_session(session_plan(deployment, key, rules, 10), journal)
        seq = restore_session(session)
        return await resume_session(session, cache, seq)


def test_a_runner_killed_at_random_moments_resumes_with_the_books_of_an_uninterrupted_run(tmp_path):
    _chaos(tmp_path, seed=1, kills=4, candles=600)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(2, 12))
def test_soak_more_kills(tmp_path, seed):
    """`make soak`: ten more seeds, twelve kills each, over 1,500 candles (about 80 s each)."""
    _chaos(tmp_path, seed=seed, kills=12, candles=1500)


def _chaos(tmp_path: Path, seed: int, kills: int, candles: int) -> None:
    rng = random.Random(seed)
    deployment = paper_deployment(tmp_path / "deployments", "sma-kill", params={"fast": 5, "slow": 20})
    feed = btc_feed()
    start = int(feed.ts_ms[300])
    clock = AcceleratedClock.candle_every(start, HOUR, EVERY_S, clock=time.time)
    until = start + candles * HOUR  # 600: 30 s of wall time, enough for four kills; the last run waits for the rest
    redriven = []
    with BinanceEmulator([feed], clock=clock) as emulator:
        for kill in range(kills):
            runner = Runner(tmp_path, emulator, clock, until)
            if kill == 0:
                time.sleep(rng.uniform(2.0, 4.5))  # while it starts: imports, cache, journal, recovery
            else:
                runner.wait_for("runner.ready")
                time.sleep(rng.uniform(0.0, 1.5))  # while it catches up on the candles it missed, or waits
            runner.kill()
            path = journal_path("sma-kill", tmp_path / "data")
            if path.exists():
                before = _rows(path)
                redriven += [asyncio.run(_recover(tmp_path, deployment, emulator.base_url)) for _ in range(2)]
                assert _rows(path) == before  # recovering (twice) writes nothing
        last = Runner(tmp_path, emulator, clock, until)
        assert last.finish(timeout_s=120) == 0
    paper = journal_books(tmp_path / "data", "sma-kill")
    assert paper.closed_ms == list(range(paper.closed_ms[0], until, HOUR))  # every candle once, none skipped
    submitted = Counter(e.client_id for e in paper.events if e.kind == "order_submitted")
    assert submitted and max(submitted.values()) == 1  # no client id sent twice
    trades = [e.trade_id for e in paper.events if e.kind == "order_filled"]
    assert len(trades) == len(set(trades)) == len(paper.fills)  # every fill booked once
    replayed = replay_books(replay_of(tmp_path / "data", deployment, paper.closed_ms[0], paper.closed_ms[-1]))
    assert paper.events == replayed.events and sorted(paper.orders) == replayed.orders
    assert paper.fills == replayed.fills and [(ts, eq) for ts, eq, _, _ in paper.marks] == replayed.marks
    assert len(paper.fills) > 20 and any(count > 0 for count in redriven)
