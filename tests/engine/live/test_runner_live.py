"""A live deployment: the runner trading through the ccxt venue (the real async ccxt client, signed requests)
against the emulator's account on an accelerated clock. Its journal must be the exchange's truth: every order
of the account journaled under one client id each, the journal's fills the account's trades by trade id, and
the books' position and cash the account's balances."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from engine.core.ids import parse_client_id
from engine.live import Venue, save_deployment
from engine.live.history import journal_path
from engine.live.journal import Journal
from engine.live.feed import FeedConfig
from engine.live.runner import Runner, RunnerConfig
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator, Fault
from engine.venues.emulator.auth import ApiKey
from engine.venues.emulator.config import TradingConfig
from engine.venues.submission import ProofPolicy
from tests.engine.live.rehearsal import HOUR, btc_feed, journal_books, paper_deployment
from tests.engine.live.venue_truth import account_truth, journal_truth

CANDLES = 120
KEY, SECRET = "live-test-key", "live-test-secret-0123456789"
QUICK = ProofPolicy(recv_window_ms=1_000, margin_ms=500, confirmations=2, spacing_s=0.1, patience_s=10.0)


def live_deployment(root, name: str):
    paper = paper_deployment(root, name, params={"fast": 3, "slow": 8})
    return save_deployment(root, paper.model_copy(update={"venue": Venue(kind="live", exchange="binance")}))[0]


def trading(**overrides) -> TradingConfig:
    return TradingConfig(keys=(ApiKey(KEY, SECRET),), balances={"USDT": Decimal(10_000)}, **overrides)


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("GAUNTLET_API_KEY", KEY)
    monkeypatch.setenv("GAUNTLET_API_SECRET", SECRET)


def run_live(tmp_path, emulator: BinanceEmulator, clock, candles: int = CANDLES) -> int:
    config = RunnerConfig(tmp_path / "data", tmp_path / "deployments", api_url=emulator.base_url, candles=candles,
                          feed=FeedConfig(stale_after_bars=1000), env_file=None, proof=QUICK, speed=clock.speed)
    return asyncio.run(Runner(config, clock=clock).run(["sma-live"]))


def test_a_live_deployment_trades_through_ccxt_and_its_journal_is_the_accounts_truth(tmp_path, keys):
    feed = btc_feed()
    clock = AcceleratedClock.candle_every(int(feed.ts_ms[400]), HOUR, 0.05)
    live_deployment(tmp_path / "deployments", "sma-live")
    with BinanceEmulator([feed], clock=clock, trading=trading()) as emulator:
        emulator.inject(Fault("lost_response", path="/api/v3/order", method="POST", skip=1),
                        Fault("status_unknown", placed=False, path="/api/v3/order", method="POST", skip=3))
        with capture_logs() as logs:
            assert run_live(tmp_path, emulator, clock) == 0
        truth = account_truth(emulator, "sma-live")
    written = [path for path in tmp_path.rglob("*") if path.is_file()]  # journal, cache, deployments
    assert len(written) >= 4 and not [p for p in written if KEY.encode() in p.read_bytes() or SECRET.encode() in
                                      p.read_bytes()]
    assert KEY not in repr(logs) and SECRET not in repr(logs)  # nor any log line
    about_orders = [line for line in logs if "client_id" in line]
    assert len(about_orders) >= 12 and all(line.get("deployment") == "sma-live" for line in about_orders)
    assert {"venue.unknown", "session.submit"} <= {line["event"] for line in about_orders}
    books = journal_truth(tmp_path / "data", "sma-live")
    with Journal.open(journal_path("sma-live", tmp_path / "data")) as journal:
        fills = journal.fills_since("sma-live")
    assert len(journal_books(tmp_path / "data", "sma-live").closed_ms) == CANDLES
    assert truth.orders_per_client_id == {cid: 1 for cid in truth.orders_per_client_id}  # never two for one id
    assert set(truth.orders_per_client_id) <= set(books.orders)  # every order of ours is journaled
    assert truth.open == books.open  # open at the exchange iff open in the journal
    assert books.trade_ids == truth.trade_ids and len(truth.trade_ids) >= 6
    assert books.position == pytest.approx(truth.balances.get("BTC", 0.0), abs=1e-9)
    assert books.cash == pytest.approx(truth.balances["USDT"], abs=1e-6)
    resent = [cid for cid in books.orders if cid.endswith("1")]
    assert resent, "the order proven never placed was sent again under its next attempt"
    lags = sorted(f.ts_ms - parse_client_id(f.client_id).decided_ms - HOUR for f in fills)
    assert 0 < lags[len(lags) // 2] < HOUR  # an order leaves at the close that decided it, not a bar later
