"""Recovery after a crash: `reconcile` brings journaled orders to the exchange's truth (filled while we were
down, cancelled by hand, placed but never answered, never sent), sends nothing, and adds nothing when run
again; then a submitting process killed with SIGKILL at random points, reconciled by a fresh venue each time:
never two orders for one intent, no order left unknown, the journal's fills the exchange's trades.

`make soak` runs the same with 200 kills and a fresh seed (`GAUNTLET_SOAK_KILLS` sets another count)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import select
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from engine.core.orders import OrderStatus
from engine.live.journal import Journal
from engine.venues.ccxt_venue import CcxtVenue, VenueConfig
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator, Fault
from engine.venues.submission import intent_of
from tests.engine.venues import venue_submitter as child
from tests.engine.venues.conftest import account, client, minute_feed
from tests.engine.venues.venue_kit import (DEPLOYMENT, SYMBOL, command, exchange_orders, intent, jump, limit, run,
                                           trading_emulator, venue_on)

ROOT = Path(__file__).resolve().parents[3]
KILLS = 8
SOAK_KILLS = int(os.environ.get("GAUNTLET_SOAK_KILLS", "200"))


def test_reconcile_brings_journaled_orders_to_the_exchanges_truth_sends_nothing_and_adds_nothing_twice(tmp_path):
    answered, by_hand, resting = limit(1, 0.5, 99.5), limit(2, 0.5, 99.2), limit(3, 0.5, 98.0)
    unanswered, unsent, done = intent(4, 0.1), intent(5, 0.1), intent(6, 0.1)  # the candle's depth: 1 BTC
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        async def before_the_crash() -> None:
            async with venue_on(emu, journal) as venue:
                for order in (answered, by_hand, resting, done):
                    journal.append(DEPLOYMENT, await venue.submit(command(order)))
                stamp = emu.clock.now_ms()  # sent, placed, and the process died before the answer was journaled
                journal.record_intent(DEPLOYMENT, unanswered, stamp)
                journal.note_venue_state(unanswered.client_id, {"request": {"timestamp": stamp, "recvWindow": 1000}},
                                         stamp)
                await venue.exchange.create_order(SYMBOL, "market", "buy", 0.1, None, {
                    "clientOrderId": unanswered.client_id, "timestamp": stamp, "recvWindow": 1000})
                journal.record_intent(DEPLOYMENT, unsent, emu.clock.now_ms())  # died before sending
                await venue.exchange.cancel_order(None, SYMBOL, {"clientOrderId": by_hand.client_id})  # by hand

        async def after_the_restart():
            async with venue_on(emu, journal) as venue:
                stale = journal.orders(DEPLOYMENT, open_only=True)
                first = await venue.reconcile(stale, journal.fills_since(DEPLOYMENT))
                journal.append(DEPLOYMENT, first)
                same_venue = await venue.reconcile(stale, journal.fills_since(DEPLOYMENT))  # the old rows again
            async with venue_on(emu, journal) as fresh:
                return first, same_venue, await fresh.reconcile(journal.orders(DEPLOYMENT), journal.fills_since(DEPLOYMENT))

        run(before_the_crash())
        placed = emu.requests.count("/api/v3/order")  # POSTs (the others carry a query string)
        jump(emu, 50)  # the 00:05 candle closes while we are down: `answered` fills
        first, same_venue, fresh_venue = run(after_the_restart())
        rows = {row.client_id: row for row in journal.orders(DEPLOYMENT)}
        assert emu.requests.count("/api/v3/order") == placed  # reconciling sent no order
    assert [(type(e).__name__, e.client_id) for e in first] == [
        ("OrderFilled", answered.client_id), ("OrderCancelled", by_hand.client_id),
        ("OrderAccepted", unanswered.client_id), ("OrderFilled", unanswered.client_id),
        ("OrderCancelled", unsent.client_id)]
    assert (first[0].qty, first[0].px, first[0].fee, first[0].fee_asset, first[0].done) == (0.5, 99.5, 0.0005, "BTC",
                                                                                          True)
    assert first[1].reason == "cancelled at the exchange (not by this deployment)"
    assert first[4].reason.startswith("never placed: not found by client id in 3 look-ups")
    assert same_venue == [] and fresh_venue == []
    assert {cid: row.status for cid, row in rows.items()} == {
        answered.client_id: OrderStatus.FILLED, by_hand.client_id: OrderStatus.CANCELLED,
        resting.client_id: OrderStatus.ACCEPTED, unanswered.client_id: OrderStatus.FILLED,
        unsent.client_id: OrderStatus.CANCELLED, done.client_id: OrderStatus.FILLED}
    assert len(exchange_orders(emu)) == 5  # all but the unsent one, and no resend


# where the submitter is killed: before its request leaves (the intent is on disk), with the request in flight,
# with the answer in but `submit` not returned, with the events returned but not journaled, after all of it
PHASES = ("intent", "noted request", "noted order", "answered", "journaled")
PLACE = {"path": "/api/v3/order", "method": "POST"}


def _spawn(base_url: str, path: Path, origin_s: float, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(log, "ab") as stderr:
        return subprocess.Popen([sys.executable, "-m", "tests.engine.venues.venue_submitter", base_url, str(path),
                                 repr(origin_s)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr)


def _kill_at(process: subprocess.Popen, phase: str, nth: int, delay_s: float, log: Path) -> None:
    """Read the submitter's lines until the `nth` one in `phase` of this run, wait `delay_s`, SIGKILL it."""
    seen, deadline = 0, time.monotonic() + 60
    while seen < nth:
        readable, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = process.stdout.readline().decode() if readable else ""
        assert line, f"the submitter stopped before its {nth}th '{phase}': {log.read_text()[-2000:]}"
        words = line.split()
        seen += " ".join([words[0], *words[2:]]) == phase
    time.sleep(delay_s)
    process.kill()
    process.wait()
    process.stdout.close()
    assert process.returncode == -9


async def _reconciled(emulator: BinanceEmulator, path: Path) -> tuple[list, list, list]:
    """A fresh venue reconciles the journal (its events journaled, as the runner will); then the same venue
    and another fresh one reconcile again (what they add), and the audit (what it finds unexplained)."""

    def venue(journal: Journal) -> CcxtVenue:
        return CcxtVenue(client(emulator, async_=True, timeout_ms=2_000),
                         VenueConfig(child.DEPLOYMENT, (SYMBOL,), child.PROOF, child.RETRY), journal)

    with Journal.open(path) as journal:
        first, second = venue(journal), venue(journal)
        try:
            await asyncio.gather(first.start(), second.start())
            events = await first.reconcile(journal.orders(child.DEPLOYMENT, open_only=True),
                                           journal.fills_since(child.DEPLOYMENT))
            journal.append(child.DEPLOYMENT, events)
            rows, fills = journal.orders(child.DEPLOYMENT, open_only=True), journal.fills_since(child.DEPLOYMENT)
            again = await first.reconcile(rows, fills) + await second.reconcile(rows, fills)
            return events, again, await second.audit(child.NOW - 60_000, [r.client_id for r in
                                                                          journal.orders(child.DEPLOYMENT)])
        finally:
            await asyncio.gather(first.close(), second.close())


def _check_books(emulator: BinanceEmulator, journal: Journal) -> int:
    """Never two exchange orders for one intent; every one journaled under its client id with the exchange's
    filled quantity; no journaled order left unknown; the journal's fills are the exchange's trades."""
    rows = {row.client_id: row for row in journal.orders(child.DEPLOYMENT)}
    ours = [o for o in emulator.book.orders.values() if intent_of(o.client_id) is not None]
    intents = [intent_of(o.client_id) for o in ours]
    assert len(intents) == len(set(intents)), "two exchange orders for one intent"
    for order in ours:
        row = rows[order.client_id]
        assert (row.venue_order_id, Decimal(str(row.filled_qty))) == (str(order.order_id), order.executed_qty)
    unknown = [cid for cid, row in rows.items() if row.is_open and row.venue_order_id is None]
    assert unknown == [], f"left unknown: {unknown}"
    traded = {str(t.trade_id) for t in emulator.book.trades if t.order_id in {o.order_id for o in ours}}
    assert {f.trade_id for f in journal.fills_since(child.DEPLOYMENT)} == traded
    return len(ours)


def test_a_submitter_killed_at_random_points_never_leaves_two_orders_for_one_intent_nor_one_unknown(tmp_path):
    kill_submitter_repeatedly(tmp_path, KILLS, seed=20261201)


@pytest.mark.soak
def test_soak_a_submitter_killed_two_hundred_times(tmp_path):
    kill_submitter_repeatedly(tmp_path, SOAK_KILLS, seed=int(time.time()))


def kill_submitter_repeatedly(tmp_path: Path, kills: int, seed: int) -> None:
    rng, origin = random.Random(seed), time.time()
    path, log = tmp_path / "journal.sqlite", tmp_path / "submitter.log"
    Journal.open(path).close()
    clock = AcceleratedClock(child.NOW, 1.0, clock=time.time, origin_s=origin)  # the submitter reads the same time
    faults = [None, Fault("timeout", delay_s=0.5, **PLACE), Fault("lost_response", **PLACE),
              Fault("unavailable", **PLACE), Fault("status_unknown", code=-1006, placed=False, **PLACE),
              Fault("lost_response", hidden_s=0.8, **PLACE)]
    reconciled: Counter[str] = Counter()
    with BinanceEmulator([minute_feed()], clock=clock, trading=account()) as emu:
        for kill in range(kills):
            phase, nth = PHASES[kill % len(PHASES)], rng.randint(1, 3)
            fault = rng.choice(faults)
            if fault is not None:
                emu.inject(dataclasses.replace(fault, skip=nth - 1))  # met by the nth order of this run
            process = _spawn(emu.base_url, path, origin, log)
            _kill_at(process, phase, nth, rng.uniform(0.0, 0.6 if phase == "noted request" else 0.05), log)
            emu.clear_faults()
            events, again, unexplained = asyncio.run(_reconciled(emu, path))
            assert again == [] and unexplained == [], (seed, kill, phase, again, unexplained)
            reconciled.update(type(e).__name__ for e in events)
            with Journal.open(path) as journal:
                placed = _check_books(emu, journal)
    assert placed >= kills and reconciled["OrderAccepted"] >= 1, (seed, reconciled)  # kills landed between send and journal
