"""The live venue a session drives (`engine.live.exchange.LiveVenue`) over the ccxt venue and the emulator: a
resend reaches the loop as the new attempt first, and an order still unknown when the process stops is looked up
until found or proven never placed, then closed, never resent."""

from __future__ import annotations

import asyncio
import time

from engine.core.events import OrderCancelled, OrderSubmitted
from engine.live.exchange import LiveVenue, resends_first
from engine.live.journal import Journal
from engine.venues.emulator import Fault
from engine.venues.submission import ProofPolicy
from tests.engine.venues.venue_kit import command, intent, run, trading_emulator, venue_on

PLACE = {"path": "/api/v3/order", "method": "POST"}
IMPATIENT = ProofPolicy(recv_window_ms=1_000, margin_ms=500, confirmations=2, spacing_s=0.15, patience_s=0.4)


def test_a_resend_is_announced_before_the_attempt_it_replaces_ends():
    old, new = intent(1).client_id, intent(1).client_id[:-1] + "1"
    events = [OrderCancelled(5, old, "never placed; resent as " + new),
              OrderSubmitted(6, new, 1, "market", 0.1, None, None, None, False)]
    assert [e.client_id for e in resends_first(events)] == [new, old]
    other = OrderCancelled(5, intent(2).client_id, "by hand")
    assert resends_first([other, events[1]]) == [other, events[1]]  # another intent's end stays where it is


def test_an_order_unknown_at_stop_is_looked_up_and_adopted(tmp_path):
    order = intent(1, 0.1)
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        emu.inject(Fault("lost_response", hidden_s=1.0, **PLACE))  # placed, answer lost, invisible for 1 s

        async def scenario():
            async with venue_on(emu, journal, proof=IMPATIENT) as ccxt_venue:
                venue = LiveVenue(ccxt_venue)
                sent = await venue.submit(command(order))
                unknown = venue.unresolved()
                await asyncio.sleep(1.2)  # the exchange's database caught up
                return sent, unknown, await venue.resolve(), venue.unresolved()

        sent, unknown, resolved, after = run(scenario())
    assert sent == [] and unknown == {order.client_id}  # the submit's own patience ran out
    assert [e.kind for e in resolved] == ["order_accepted", "order_filled"] and after == set()
    assert emu.requests.count("/api/v3/order") == 1  # sent once


def test_an_order_proven_never_placed_at_stop_is_closed_not_resent(tmp_path):
    order = intent(2, 0.1)
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        emu.inject(Fault("status_unknown", placed=False, **PLACE))

        async def scenario():
            async with venue_on(emu, journal, proof=IMPATIENT) as ccxt_venue:
                venue = LiveVenue(ccxt_venue)
                started = time.monotonic()
                sent = await venue.submit(command(order))
                unknown = venue.unresolved()
                resolved = []
                while venue.unresolved() and time.monotonic() - started < 10:
                    resolved += await venue.resolve()
                return sent, unknown, resolved, venue.unresolved()

        sent, unknown, resolved, after = run(scenario())
    assert sent == [] and unknown == {order.client_id}
    assert [(e.kind, e.client_id) for e in resolved] == [("order_cancelled", order.client_id)]
    assert resolved[0].reason.startswith("never placed") and "resent" not in resolved[0].reason and after == set()
    assert emu.requests.count("/api/v3/order") == 1 and not emu.book.orders  # never sent again
