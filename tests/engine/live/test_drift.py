"""Drift on real journals: paper sessions trading the real BTC/USDT 1h candles, their window replayed from the
cache and matched order by order. A kill switch latched mid-run, late candles and a restart's catch-up are each
explained with their effects, which add up to the equity difference; an edited journal shows a fill price beyond
slippage and an unexplained difference; a cache lacking candles is refused; a runner on the emulator stopped,
latched and started again comes out with every difference explained."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing

import pytest

from engine.live.cache import LiveCache
from engine.live.drift import measure_drift
from engine.live.feed import FeedConfig
from engine.live.history import PaperEvidence, journal_path, read_paper_evidence
from engine.live.journal import Journal
from engine.live.killswitch import KillSwitch
from engine.live.runner import Runner, RunnerConfig, paper_session, session_plan
from engine.live.session import TickInputs
from engine.live.startup import restore_session, resume_session
from engine.ohlcv import Store
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator
from tests.conftest import shared_candles
from tests.engine.live.rehearsal import (BTC_1H, FIRST, HOUR, KEY, RULES, btc_feed, candle, decided, drive,
                                         paper_deployment,
                                         traded)

PARAMS = {"fast": 5, "slow": 20}


def _report(root, name):
    with Journal.open(journal_path(name, root / "data")) as journal:
        return measure_drift(journal, name, Store(root / "data"))


def _roots(report):
    return [d for d in report.differences if d.root]


def test_an_uninterrupted_paper_session_is_identical_to_replay(tmp_path):
    traded(tmp_path, "clean")
    report = _report(tmp_path, "clean")
    assert (report.candles, report.fills, report.replay_fills, report.matched.identical_fills) == (300, 25, 25, 25)
    assert report.differences == () and report.effect == 0.0 and report.drift_rate == 0.0 and report.restarts == 0
    assert report.summary() == "identical: 25 of 25 fills" and report.breaches(0.0) == []


def test_a_kill_switch_latched_mid_run_is_explained_as_rejections_with_their_effect(tmp_path):
    kill = {i: TickInputs(kill="exchange incident") for i in range(FIRST + 30, FIRST + 80)}
    traded(tmp_path, "kill", inputs=kill)
    report = _report(tmp_path, "kill")
    with Journal.open(journal_path("kill", tmp_path / "data")) as journal:
        refusals = [e.event for e in journal.events_of("kill", ["risk_checked"]) if e.event.rule == "kill_switch"]
    roots = _roots(report)
    assert len(refusals) == len(roots) == 3 and {d.kind for d in report.differences} == {"rejection"}
    assert [d.ts_ms for d in roots] == [r.ts_ms for r in refusals]
    assert all(d.live.rule == "kill_switch" and d.replay.status == "filled" for d in roots)
    assert all(d.follows in {r.client_ids[0] for r in roots} for d in report.differences if not d.root)
    assert (report.fills, report.replay_fills, report.matched.identical_fills) == (19, 25, 4)
    assert len(report.differences) == 21
    assert report.unexplained == 0 and report.effect == pytest.approx(258.598804805, abs=1e-6)  # the latch saved that
    assert report.explained_effect == pytest.approx(report.effect, abs=1e-6) and abs(report.residual) < 1e-6
    assert report.drift_rate == pytest.approx(report.effect / 10_000.0)
    assert report.summary() == "identical: 4 of 19 fills; differences: rejection 21 (+258.60 USDT)"
    assert report.breaches(0.01) == ["the explained differences move equity by +258.60 USDT, 2.59% of the initial "
                                     "cash, beyond the bound of 1.00%"] and report.breaches(0.05) == []
    evidence = read_paper_evidence("kill", tmp_path / "data")  # what `promote --to live` reads
    assert evidence == PaperEvidence("kill v1", 299 / 24, 19, 0, report.drift_rate)


def test_a_restart_catch_up_and_a_late_candle_are_told_apart(tmp_path):
    entries = decided("entries", FIRST + 100, FIRST + 300, PARAMS)
    caught_up, fresh, late = entries[0], entries[1], entries[2]  # each acts at the next candle's open
    deployment = paper_deployment(tmp_path / "deployments", "re", params=PARAMS)
    traded(tmp_path, "re", hi=FIRST + 100)  # the first process, stopped after 100 candles
    data = tmp_path / "data"
    with Journal.open(journal_path("re", data)) as journal:
        session = paper_session(session_plan(deployment, KEY, RULES, snapshot_every=25), journal)
        session.started_ms += 60_000  # another process, a minute later
        asyncio.run(resume_session(session, LiveCache(Store(data), KEY), restore_session(session)))
        journal.beat("re", session.heartbeat("running"))
        stale = {i: TickInputs(fresh=False) for i in [*range(FIRST + 100, caught_up + 2), late + 1]}
        drive(session, FIRST + 100, FIRST + 300, stale)
        assert fresh + 1 not in stale
    report = _report(tmp_path, "re")
    assert report.restarts == 1 and report.unexplained == 0
    assert [(d.kind, d.ts_ms) for d in _roots(report)] == [("restart", candle(caught_up + 1).ts_ms),
                                                           ("late_candle", candle(late + 1).ts_ms)]
    assert _roots(report)[0].detail == "refused as stale, caught up after the restart that followed the candle " \
                                      "2024-01-21 19:00"
    assert _roots(report)[1].detail.startswith("refused by the runner: stale data: the candle came late")
    assert set(report.matched.by_kind()) == {"restart", "late_candle"}
    assert report.explained_effect == pytest.approx(report.effect, abs=1e-6)


def test_an_edited_journal_shows_a_price_beyond_slippage_and_an_unexplained_order(tmp_path):
    traded(tmp_path, "edited")
    path = journal_path("edited", tmp_path / "data")
    with closing(sqlite3.connect(path)) as connection, connection:
        fills = connection.execute("SELECT seq, fields FROM events WHERE type = 'order_filled' ORDER BY seq").fetchall()
        gone = json.loads(fills[1][1])["client_id"]  # the first exit: as if the journal never made it
        connection.execute("DELETE FROM events WHERE json_extract(fields, '$.client_id') = ?", (gone,))
        seq, fields = fills[4][0], json.loads(fills[4][1])  # the third entry: bought 30 above replay's price
        edited = json.dumps({**fields, "px": fields["px"] + 30})
        connection.execute("UPDATE events SET fields = ? WHERE seq = ?", (edited, seq))
    report = _report(tmp_path, "edited")
    lone, price = report.differences
    assert price.kind == "price" and price.client_ids == (fields["client_id"],) and "beyond the spec's slippage" in \
        price.detail and price.effect == pytest.approx(-30 * fields["qty"])
    assert lone.kind == "unexplained" and lone.client_ids == (gone,) and lone.live is None
    assert report.unexplained == 1 and report.breaches(1.0) == ["1 unexplained difference(s)"]


def test_a_cache_lacking_candles_is_refused_by_name(tmp_path):
    traded(tmp_path, "short", hi=FIRST + 50)
    cut = Store(tmp_path / "cut")  # a cache that ends ten candles before the journal does
    cut.write(KEY, shared_candles(BTC_1H).iloc[:FIRST + 40], source={"kind": "test"}, obtained_ms=4_102_444_800_000)
    with Journal.open(journal_path("short", tmp_path / "data")) as journal, pytest.raises(LookupError) as refused:
        measure_drift(journal, "short", cut)
    assert str(refused.value).startswith(f"the cache {KEY} lacks 10 of the 50 candles the journal handled (first: "
                                         f"{candle(FIRST + 40).ts_ms})")


def test_a_runner_stopped_latched_and_started_again_on_the_emulator_explains_every_difference(tmp_path):
    feed = btc_feed()
    clock = AcceleratedClock.candle_every(int(feed.ts_ms[400]), HOUR, 0.04)
    paper_deployment(tmp_path / "deployments", "sma-latch", params=PARAMS)
    with BinanceEmulator([feed], clock=clock) as emulator:
        for candles in (60, 150):
            config = RunnerConfig(tmp_path / "data", tmp_path / "deployments", api_url=emulator.base_url,
                                  candles=candles, feed=FeedConfig(stale_after_bars=1000))
            assert asyncio.run(Runner(config, clock=clock).run(["sma-latch"])) == 0
            KillSwitch.of("sma-latch", tmp_path / "data").latch("exchange incident")  # from the second run on
    report = _report(tmp_path, "sma-latch")
    with Journal.open(journal_path("sma-latch", tmp_path / "data")) as journal:
        refusals = [e.event.ts_ms for e in journal.events_of("sma-latch", ["risk_checked"])
                    if e.event.rule == "kill_switch"]
        starts = journal.starts("sma-latch")
    assert report.candles == 210 and report.restarts == 1 and len(starts) == 2 and starts[0].last_candle_ms is None
    assert starts[1].last_candle_ms == report.first_ms + 59 * HOUR  # the second process took up after 60 candles
    assert refusals and [d.ts_ms for d in _roots(report)] == refusals
    assert {d.kind for d in report.differences} == {"rejection"} and report.unexplained == 0
    assert report.explained_effect == pytest.approx(report.effect, abs=1e-6) and abs(report.residual) < 1e-6
