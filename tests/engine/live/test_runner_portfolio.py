"""Several deployments in one runner process: one candle feed per market shared by the deployments trading it,
portfolio limits across them (each refusal a `RiskChecked` naming the rule, then the order's rejection with the
figures), the drawdown halt latching every kill switch; and SIGTERM finishing the candle in hand, journaling a
snapshot and the stopped state, and exiting 0 with no order left unanswered."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.live.feed import FeedConfig
from engine.live.history import journal_path
from engine.live.journal import Journal
from engine.live.killswitch import KillSwitch
from engine.live.portfolio import PortfolioLimits
from engine.live.runner import Runner, RunnerConfig
from engine.live.recovery import ticks_after
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator, Feed
from tests.conftest import shared_candles
from tests.engine.live.rehearsal import HOUR, btc_feed, paper_deployment

ROOT = Path(__file__).resolve().parents[3]
NAMES = ("btc-fast", "btc-slow", "eth")


def _three(root: Path) -> None:
    paper_deployment(root, "btc-fast", params={"fast": 5, "slow": 20})
    paper_deployment(root, "btc-slow", params={"fast": 8, "slow": 30})
    paper_deployment(root, "eth", params={"fast": 5, "slow": 20}, symbol="ETH/USDT")


def _run(tmp_path: Path, limits: PortfolioLimits, candles: int) -> BinanceEmulator:
    eth = Feed.from_frame("ETH/USDT", "1h", shared_candles("binance_ETH-USDT_1h_2024-01_2024-09.parquet"))
    btc = btc_feed()
    clock = AcceleratedClock.candle_every(int(btc.ts_ms[400]), HOUR, 0.04)
    with BinanceEmulator([btc, eth], clock=clock) as emulator:
        config = RunnerConfig(tmp_path / "data", tmp_path / "deployments", api_url=emulator.base_url, candles=candles,
                              feed=FeedConfig(stale_after_bars=1000), limits=limits)
        assert asyncio.run(Runner(config, clock=clock).run(list(NAMES))) == 0
    return emulator


def _refusals(data: Path, name: str) -> list[tuple]:
    """(rule, the rejection's reason) of every entry the portfolio or the kill switch refused."""
    with Journal.open(journal_path(name, data)) as journal:
        events = [e.event for e in journal.events_after(name)]
    return [(e.rule, events[i + 1].reason) for i, e in enumerate(events)
            if e.kind == "risk_checked" and e.rule is not None and e.rule.startswith(("portfolio", "kill"))]


def test_one_feed_per_market_and_limits_across_deployments(tmp_path):
    _three(tmp_path / "deployments")
    emulator = _run(tmp_path, PortfolioLimits(max_exposure_rate=0.7, max_asset_rate=0.4), candles=200)
    polls = {symbol: sum(1 for r in list(emulator.requests) if r.startswith("/api/v3/klines") and
                         f"symbol={symbol}" in r) for symbol in ("BTCUSDT", "ETHUSDT")}
    assert polls["ETHUSDT"] > 0 and polls["BTCUSDT"] < 1.5 * polls["ETHUSDT"]  # two BTC deployments, one BTC feed
    # (two feeds would poll BTC twice as often; a margin, since a loaded machine makes either feed poll again)
    refused = {name: _refusals(tmp_path / "data", name) for name in NAMES}
    rules = {rule for found in refused.values() for rule, _ in found}
    assert "portfolio_asset" in rules and rules <= {"portfolio_asset", "portfolio_exposure"}, refused
    asset = next(reason for found in refused.values() for rule, reason in found if rule == "portfolio_asset")
    assert asset.startswith("BTC exposure") and "(limit 40.00%)" in asset
    held, _, rest = asset.removeprefix("BTC exposure ").partition(" with this entry would be ")
    share, equity = rest.split("% of equity ")
    assert float(share) / 100 == round(float(held) / float(equity.split(" ")[0]), 4) > 0.4  # the figures it names
    assert refused["eth"] == [] or {r for r, _ in refused["eth"]} == {"portfolio_exposure"}


def test_the_drawdown_halt_latches_every_kill_switch(tmp_path):
    _three(tmp_path / "deployments")
    _run(tmp_path, PortfolioLimits(max_drawdown_rate=0.01), candles=200)
    reasons = {name: KillSwitch.of(name, tmp_path / "data").reason() for name in NAMES}
    assert len(set(reasons.values())) == 1 and reasons["eth"].startswith("portfolio drawdown: equity")
    refused = {rule for name in NAMES for rule, _ in _refusals(tmp_path / "data", name)}
    assert "kill_switch" in refused and refused <= {"kill_switch", "portfolio_drawdown"}
    halted = float(reasons["eth"].split(" is ")[1].split("%")[0])
    assert halted >= 1.0  # tripped at the first close 1 % or more below the peak


def test_sigterm_finishes_the_candle_snapshots_and_exits_0(tmp_path):
    paper_deployment(tmp_path / "deployments", "sma-term", params={"fast": 5, "slow": 20})
    feed = btc_feed()
    clock = AcceleratedClock.candle_every(int(feed.ts_ms[300]), HOUR, 0.05, clock=time.time)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GAUNTLET_DATA_DIR": str(tmp_path / "data"),
           "GAUNTLET_DEPLOYMENTS_DIR": str(tmp_path / "deployments")}
    with BinanceEmulator([feed], clock=clock) as emulator:
        runner = subprocess.Popen([str(Path(sys.executable).parent / "gauntlet"), "run", "sma-term", "--api-url",
                                   emulator.base_url, "--speed", str(clock.speed), "--stale-after", "1000"], cwd=ROOT,
                                  env=env, stderr=subprocess.PIPE, text=True)
        for line in runner.stderr:
            if '"runner.ready"' in line:
                break
        time.sleep(2.0)
        runner.send_signal(signal.SIGTERM)
        rest = runner.stderr.read()
        assert runner.wait(timeout=30) == 0, rest[-2000:]
        runner.stderr.close()
    assert '"signal": "SIGTERM"' in rest and '"runner.stopped"' in rest
    with Journal.open(journal_path("sma-term", tmp_path / "data")) as journal:
        assert journal.heartbeat("sma-term").state == "stopped"
        snapshot, last = journal.latest_snapshot("sma-term"), journal.last_seq("sma-term")
        assert snapshot.seq == last and ticks_after(journal.events_after("sma-term", snapshot.seq)) == []
        assert journal.orders("sma-term") and journal.orders("sma-term", open_only=True) == []  # none unanswered
