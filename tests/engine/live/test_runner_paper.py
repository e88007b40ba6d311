"""Paper = replay: a paper deployment trading real BTC/USDT 1h candles served by the emulator on an accelerated
clock (the real ccxt async client polling it) journals exactly the events, orders, fills and equity that
replay, bar by bar with the same spec, computes over the candles the runner cached; and its drift report says so:
every order matched, identical, no effect."""

from __future__ import annotations

import asyncio

from engine.live.drift import measure_drift
from engine.live.feed import FeedConfig
from engine.live.history import journal_path
from engine.live.journal import Journal
from engine.live.runner import Runner, RunnerConfig
from engine.ohlcv import Store
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator
from tests.engine.live.rehearsal import HOUR, btc_feed, journal_books, paper_deployment, replay_books, replay_of

CANDLES = 300


def test_paper_on_the_emulator_equals_replay_bar_by_bar(tmp_path):
    feed = btc_feed()
    start = int(feed.ts_ms[400])  # 2024-01-17 16:00: 400 candles of history before the first one traded
    clock = AcceleratedClock.candle_every(start, HOUR, 0.04)  # an hour every 40 ms of wall time
    deployment = paper_deployment(tmp_path / "deployments", "sma-paper", params={"fast": 5, "slow": 20})
    with BinanceEmulator([feed], clock=clock) as emulator:
        config = RunnerConfig(tmp_path / "data", tmp_path / "deployments", api_url=emulator.base_url, candles=CANDLES,
                              feed=FeedConfig(stale_after_bars=1000))  # about equality, not lateness
        assert asyncio.run(Runner(config, clock=clock).run(["sma-paper"])) == 0
    paper = journal_books(tmp_path / "data", "sma-paper")
    assert len(paper.closed_ms) == CANDLES and paper.closed_ms[0] >= start
    assert paper.closed_ms == [paper.closed_ms[0] + i * HOUR for i in range(CANDLES)]  # none skipped, none twice
    replayed = replay_books(replay_of(tmp_path / "data", deployment, paper.closed_ms[0], paper.closed_ms[-1]))
    assert paper.events == replayed.events
    assert sorted(paper.orders) == replayed.orders
    assert paper.fills == replayed.fills
    assert [(ts, eq) for ts, eq, _, _ in paper.marks] == replayed.marks
    # where the first candle falls depends on how long the runner took to start (the clock runs meanwhile); from
    # 2024-01-17 16:00 it was 25 orders, 25 fills, 413 events and an equity of 9850.657855405801 at the end
    assert len(paper.fills) == len(paper.orders) >= 20 and paper.marks[-1][1] == replayed.marks[-1][1]
    with Journal.open(journal_path("sma-paper", tmp_path / "data")) as journal:
        drift = measure_drift(journal, "sma-paper", Store(tmp_path / "data"))
    assert (drift.candles, drift.fills, drift.replay_fills) == (CANDLES, len(paper.fills), len(replayed.fills))
    assert drift.matched.identical_fills == drift.fills and drift.matched.identical_orders == len(paper.orders)
    assert drift.differences == () and drift.effect == 0.0 and drift.drift_rate == 0.0 and drift.restarts == 0
    assert drift.summary() == f"identical: {len(paper.fills)} of {len(paper.fills)} fills"
