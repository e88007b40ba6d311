"""`gauntlet run`, `status`, `stop` / `resume`, `journal export` and `deployments` on a paper deployment trading
real BTC/USDT 1h candles from the emulator on an accelerated clock, the runner in its own process; and every user
mistake one line, exit 1, no traceback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from engine.live.history import PaperEvidence, deployment_state, journal_path, read_paper_evidence
from engine.live.journal import Journal
from engine.live.status import utc
from engine.settings import settings
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator
from research.cli import app
from tests.engine.live.rehearsal import HOUR, btc_feed, paper_deployment

GAUNTLET = str(Path(sys.executable).parent / "gauntlet")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def places(tmp_path, monkeypatch):
    """GAUNTLET_DATA_DIR, _REPORTS_DIR and _DEPLOYMENTS_DIR in tmp_path, for this process and its children."""
    for name in ("data", "reports", "deployments"):
        monkeypatch.setenv(f"GAUNTLET_{name.upper()}_DIR", str(tmp_path / name))
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_run_then_status_export_and_deployments_agree_with_the_journal(places):
    paper_deployment(places / "deployments", "sma-cli", params={"fast": 5, "slow": 20})
    feed = btc_feed()
    clock = AcceleratedClock.candle_every(int(feed.ts_ms[300]), HOUR, 0.05, clock=time.time)
    with BinanceEmulator([feed], clock=clock) as emulator:
        done = subprocess.run([GAUNTLET, "run", "sma-cli", "--api-url", emulator.base_url, "--speed", str(clock.speed),
                               "--candles", "80", "--stale-after", "1000", "--snapshot-every", "25"], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    submits = [line for line in lines if line["event"] == "session.submit"]
    assert submits and all(line["deployment"] == "sma-cli" and line["client_id"] for line in submits)
    assert lines[-1]["event"] == "runner.stopped" and lines[-1]["deployment"] == "sma-cli"
    with Journal.open(journal_path("sma-cli", places / "data")) as journal:
        closed = journal.events_of("sma-cli", ["bar_closed"])
        fills, marks = journal.fills_since("sma-cli"), journal.equity("sma-cli")
        orders = journal.orders("sma-cli")
    assert len(closed) == 80 and len(marks) == 80 and len(fills) == len(submits) == len(orders) > 0
    shown = _cli("status", "sma-cli", "--json")
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.output)
    assert (status["state"], status["fills"], status["position"], status["equity"], status["cash"]) == \
        ("stopped", len(fills), marks[-1].position, marks[-1].equity, marks[-1].cash)
    assert status["pnl"] == pytest.approx(marks[-1].equity - 10_000.0, abs=1e-9)
    assert status["last_candle"] == utc(closed[-1].event.ts_ms) and status["kill_switch"] is None
    assert [e.event.ts_ms for e in closed] == [closed[0].event.ts_ms + i * HOUR for i in range(80)]
    exported = _cli("journal", "export", "sma-cli", "--out", str(places / "out"))
    assert exported.exit_code == 0, exported.output
    assert [pq.read_metadata(places / "out" / f"{t}.parquet").num_rows for t in ("orders", "fills", "events")] == \
        [len(orders), len(fills), closed[-1].seq]
    listed = _cli("deployments")
    assert listed.exit_code == 0 and "stopped" in listed.output and "never run" not in listed.output
    record = read_paper_evidence("sma-cli", places / "data")  # what `promote --to live` reads
    assert record == PaperEvidence("sma-cli v1", 79 / 24, len(fills), 0, 0.0)  # drift: identical to replay


def test_stop_latches_the_kill_switch_until_resume(places):
    paper_deployment(places / "deployments", "sma-kill")
    assert _cli("stop", "sma-kill", "--reason", "exchange incident").exit_code == 0
    switch = places / "data" / "journal" / "sma-kill.kill"
    assert json.loads(switch.read_text())["reason"] == "exchange incident"
    assert _cli("stop", "sma-kill", "--reason", "again").exit_code == 0  # latched: the first reason stays
    assert json.loads(switch.read_text())["reason"] == "exchange incident"
    assert json.loads(switch.read_text())["flatten"] is False
    assert _cli("stop", "sma-kill", "--flatten").exit_code == 0  # latched already: now it flattens too
    assert json.loads(switch.read_text())["reason"] == "exchange incident" and json.loads(switch.read_text())["flatten"]
    assert _cli("stop", "sma-kill").exit_code == 0 and json.loads(switch.read_text())["flatten"]  # never back
    assert deployment_state("sma-kill", places / "data").state == "latched"  # what `gauntlet deployments` shows
    assert _cli("resume", "sma-kill").exit_code == 0 and not switch.exists()
    again = _cli("resume", "sma-kill")
    assert again.exit_code == 1 and "not latched" in again.output


async def _until(ready, timeout_s: float = 60.0) -> None:  # noqa: ANN001 - a condition
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, "the runner did not get there in time"
        await asyncio.sleep(0.002)


def test_stop_flatten_closes_the_position_at_the_next_candle_and_resume_trades_again(places):
    """A paper runner (in this process) on real candles from the emulator; `gauntlet stop --flatten` typed while it
    holds a position, `gauntlet status` read while it flattens and once flat, `gauntlet resume` after an entry was
    refused."""
    from engine.core.ids import parse_client_id
    from engine.live.feed import FeedConfig
    from engine.live.runner import Runner, RunnerConfig

    paper_deployment(places / "deployments", "sma-flat", params={"fast": 5, "slow": 20})
    feed = btc_feed()
    clock = AcceleratedClock.candle_every(int(feed.ts_ms[400]), HOUR, 0.05)
    seen: dict[str, object] = {}

    async def operate(runner: Runner) -> None:
        await _until(lambda: runner.markets and list(runner.markets.values())[0].deployed)
        session = list(runner.markets.values())[0].deployed[0].session
        await _until(lambda: session.loop.ledger.qty > 0)
        seen["latched"], seen["held"] = session.last_ms, session.loop.ledger.qty  # no candle between these lines
        seen["stop"] = _cli("stop", "sma-flat", "--flatten", "--reason", "rehearsal").output
        seen["before"] = json.loads(_cli("status", "sma-flat", "--json").output)
        await _until(lambda: session.last_ms > seen["latched"])
        seen["after"] = json.loads(_cli("status", "sma-flat", "--json").output)
        refused = lambda: [e for e in session.journal.events_of("sma-flat", ["risk_checked"])  # noqa: E731
                           if e.event.rule == "kill_switch"]
        await _until(refused)
        seen["resumed"] = session.last_ms
        seen["resume"] = _cli("resume", "sma-flat").output
        await _until(lambda: session.loop.ledger.qty > 0)
        runner.stop.set()

    async def rehearse(url: str) -> int:
        config = RunnerConfig(places / "data", places / "deployments", api_url=url, candles=2_000,
                              feed=FeedConfig(stale_after_bars=1000))
        runner = Runner(config, clock=clock)
        done = await asyncio.gather(runner.run(["sma-flat"]), operate(runner))
        return done[0]

    with BinanceEmulator([feed], clock=clock) as emulator:
        assert asyncio.run(rehearse(emulator.base_url)) == 0
    assert "the position is closed at the next candle" in seen["stop"] and "unlatched" in seen["resume"]
    assert (seen["before"]["kill_switch"], seen["before"]["flatten"]) == ("rehearsal", "flattening")
    assert (seen["after"]["flatten"], seen["after"]["position"], seen["after"]["open_orders"]) == ("flat", 0.0, [])
    at = seen["latched"] + HOUR  # the next candle
    with Journal.open(journal_path("sma-flat", places / "data")) as journal:
        events = [e.event for e in journal.events_after("sma-flat")]
        orders, marks = journal.orders("sma-flat"), {m.ts_ms: m.position for m in journal.equity("sma-flat")}
        fills = journal.fills_since("sma-flat")
    [ordered] = [e for e in events if e.kind == "flatten_ordered"]
    assert (ordered.ts_ms, ordered.qty, ordered.reason) == (at, seen["held"], "rehearsal")
    [flatten] = [o for o in orders if parse_client_id(o.client_id).role == "flatten"]
    assert flatten.client_id == ordered.client_id and flatten.status.value == "filled" and flatten.intent_ms == at
    assert [f.ts_ms for f in fills if f.client_id == flatten.client_id] == [at] and marks[at] == 0.0
    latched = [o for o in orders if at < o.intent_ms <= seen["resumed"]]
    assert latched and all(o.status.value == "rejected" and not o.reduce_only for o in latched)  # no entry went
    assert set(marks[ts] for ts in marks if at <= ts <= seen["resumed"]) == {0.0}
    assert any(o.intent_ms > seen["resumed"] and o.status.value == "filled" and not o.reduce_only for o in orders)
    assert json.loads(_cli("status", "sma-flat", "--json").output)["flatten"] is None


@pytest.mark.parametrize("args, words", [
    (("run", "ghost"), "no deployment 'ghost'"),
    (("status", "ghost"), "has never run"),
    (("status",), "none has run yet"),
    (("journal", "export", "ghost"), "has never run"),
    (("stop", "ghost"), "no deployment 'ghost'"),
    (("run", "sma-flags", "--until", "the day after"), "cannot read 'the day after' as a time"),
    (("run", "sma-flags", "--max-exposure-rate", "1.5"), "--max-exposure-rate must be in (0, 1], got 1.5"),
])
def test_a_user_mistake_is_one_line_and_exit_1(places, args, words):
    paper_deployment(places / "deployments", "sma-flags")
    done = _cli(*args)
    assert done.exit_code == 1 and words in done.output, done.output
    assert "Traceback" not in done.output and done.output.count("error:") == 1


def test_a_tampered_strategy_source_is_refused_with_the_loaders_words(places):
    source = places / "mine.py"
    source.write_text("from engine.strategy.builtins.sma_cross import GRID, Params, signals\n")
    from engine.live import save_deployment

    deployment = paper_deployment(places / "deployments", "tampered")
    spec = deployment.spec.model_copy(update={"strategy": deployment.spec.strategy.model_copy(update={
        "name": "mine", "ref": str(source), "path": str(source), "sha256": __import__("hashlib").sha256(
            source.read_bytes()).hexdigest()})})
    save_deployment(places / "deployments", deployment.model_copy(update={"spec": spec}))
    source.write_text(source.read_text() + "# changed\n")
    done = _cli("run", "tampered")
    assert done.exit_code == 1 and "changed since tampered v2 was promoted" in " ".join(done.output.split())


def test_a_live_deployment_without_keys_is_refused_before_anything_is_sent(places, monkeypatch):
    """A live deployment trades with its account's keys or not at all: without them, one line naming the
    variables to set, exit 1, and no journal is created for it."""
    from engine.live import Venue, save_deployment

    for name in ("GAUNTLET_API_KEY", "GAUNTLET_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    paper = paper_deployment(places / "deployments", "btc-live")
    save_deployment(places / "deployments", paper.model_copy(update={"venue": Venue(kind="live", exchange="binance")}))
    done = _cli("run", "btc-live")
    text = " ".join(done.output.split())
    assert done.exit_code == 1 and "no API key for btc-live v2 (account default: set GAUNTLET_API_KEY and " \
        "GAUNTLET_API_SECRET" in text, done.output
    assert "Traceback" not in done.output and not journal_path("btc-live").exists()