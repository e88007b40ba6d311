"""Each fault of the emulator met by the ccxt venue, one test a fault class, asserting the state the order
ends in and what the exchange holds: the answer lost after the order was accepted, the order invisible for a
while, a timeout (processed late, or too late to be processed), 503, -1006 placed and not placed, -1007, a
dropped connection, 429 with Retry-After, a duplicated delivery. The proof policy of these tests: recvWindow
1 s, margin 0.5 s, 3 counted misses 0.15 s apart (`venue_kit.FAST`)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from engine.core.events import OrderAccepted, OrderFilled
from engine.core.ids import parse_client_id
from engine.core.orders import OrderStatus
from engine.live.journal import Journal
from engine.venues.emulator import Fault
from engine.venues.submission import Phase
from tests.engine.venues.conftest import NOW
from tests.engine.venues.venue_kit import (DEPLOYMENT, FAST, SYMBOL, command, exchange_orders, family, intent, limit,
                                           run, trading_emulator, venue_on)

PLACE = {"path": "/api/v3/order", "method": "POST"}


@dataclass(frozen=True)
class Submitted:
    """What one submission under faults came to: its events (journaled as a runner would), its trail, its
    phase, the seconds it took, the POSTs the exchange saw, the exchange's orders of the intent (every
    attempt), how many orders allOrders lists, and the journal's rows of the intent."""

    events: list
    trail: tuple[str, ...]
    phase: Phase | None
    took: float
    posts: int
    on_exchange: list
    listed: int
    rows: list

    @property
    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


def submitted(tmp_path, order, *faults, timeout_ms: int = 2_000) -> Submitted:
    """Submit `order` through a fresh venue (and a fresh emulator) with `faults` injected."""
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        async def scenario():
            async with venue_on(emu, journal, timeout_ms=timeout_ms) as venue:
                emu.inject(*faults)
                start = time.monotonic()
                events = await venue.submit(command(order))
                took = time.monotonic() - start
                listed = await venue.exchange.fetch_orders(SYMBOL)
                return events, venue.trail(order.client_id), venue.phase(order.client_id), took, len(listed)

        events, trail, phase, took, listed = run(scenario())
        journal.append(DEPLOYMENT, events)
        rows = [r for r in journal.orders(DEPLOYMENT) if r.client_id.startswith(family(order.client_id))]
        posts = emu.requests.count("/api/v3/order")  # POSTs: the others carry their query in the URL
        return Submitted(events, trail, phase, took, posts, exchange_orders(emu, family(order.client_id)), listed,
                         rows)


def lookups(trail) -> tuple[int, int]:
    """(look-ups that found nothing and did not count, counted misses) in a submission's trail."""
    return (sum("not counted" in line for line in trail), sum("past the deadline" in line for line in trail))


def test_an_answer_lost_after_the_order_was_accepted_is_found_by_client_id_and_never_resent(tmp_path):
    order = intent(1, 0.5)
    got = submitted(tmp_path, order, Fault("lost_response", **PLACE))
    assert got.kinds == ["OrderAccepted", "OrderFilled"] and got.events[1].done
    assert got.trail[1].startswith("unknown: ExchangeNotAvailable") and "found by client id" in got.trail[2]
    assert (got.posts, len(got.on_exchange), got.listed) == (1, 1, 1)
    assert got.on_exchange[0].client_id == order.client_id and got.phase is Phase.PLACED
    assert [(r.status, r.filled_qty) for r in got.rows] == [(OrderStatus.FILLED, 0.5)]


def test_an_order_invisible_for_a_while_stays_unknown_until_it_shows_and_is_not_resent(tmp_path):
    order = limit(1, 0.5, 99.0)
    got = submitted(tmp_path, order, Fault("lost_response", hidden_s=1.0, **PLACE))
    uncounted, counted = lookups(got.trail)
    assert got.kinds == ["OrderAccepted"] and got.took >= 1.0
    assert uncounted >= 3 and counted == 0  # every miss came before the deadline (1.5 s): none counted
    assert (got.posts, len(got.on_exchange), got.listed) == (1, 1, 1)
    assert [(r.client_id, r.status) for r in got.rows] == [(order.client_id, OrderStatus.ACCEPTED)]


def test_status_unknown_1006_after_placing_resolves_to_the_placed_order(tmp_path):
    got = submitted(tmp_path, limit(1, 0.5, 99.0), Fault("status_unknown", code=-1006, **PLACE))
    assert got.kinds == ["OrderAccepted"] and got.trail[1].startswith("unknown: OperationFailed")
    assert "Execution status unknown" in got.trail[1]
    assert (got.posts, len(got.on_exchange)) == (1, 1)


def test_status_unknown_1006_without_placing_is_proven_absent_after_the_deadline_then_resent_as_attempt_1(tmp_path):
    order = intent(1, 0.5)
    got = submitted(tmp_path, order, Fault("status_unknown", code=-1006, placed=False, **PLACE))
    retry = got.events[1].client_id
    assert got.kinds == ["OrderCancelled", "OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert got.events[0].client_id == order.client_id and got.events[0].reason.startswith("never placed")
    assert got.events[0].reason.endswith(f"resent as {retry}") and parse_client_id(retry).attempt == 1
    uncounted, counted = lookups(got.trail)
    assert counted == FAST.confirmations and uncounted >= 1 and got.took >= 1.5  # recvWindow 1 s + margin 0.5 s
    assert (got.posts, [o.client_id for o in got.on_exchange], got.listed) == (2, [retry], 1)
    assert [(r.client_id, r.status) for r in got.rows] == [(order.client_id, OrderStatus.CANCELLED),
                                                            (retry, OrderStatus.FILLED)]
    assert got.rows[0].venue_state["request"]["recvWindow"] == 1_000  # the proof's figures, beside the intent


def test_status_unknown_1007_is_resolved_not_rejected(tmp_path):
    got = submitted(tmp_path, intent(1, 0.5), Fault("status_unknown", code=-1007, **PLACE))
    assert got.kinds == ["OrderAccepted", "OrderFilled"] and got.trail[1].startswith("unknown: RequestTimeout")
    assert (got.posts, len(got.on_exchange)) == (1, 1)


def test_a_timed_out_request_processed_late_is_found_once_it_is(tmp_path):
    got = submitted(tmp_path, limit(1, 0.5, 99.0), Fault("timeout", delay_s=0.6, **PLACE), timeout_ms=300)
    assert got.kinds == ["OrderAccepted"] and got.trail[1].startswith("unknown: RequestTimeout")
    assert lookups(got.trail)[1] == 0 and (got.posts, len(got.on_exchange)) == (1, 1)


def test_a_request_held_past_its_recv_window_is_refused_by_the_exchange_so_the_resend_is_the_only_order(tmp_path):
    order = limit(1, 0.5, 99.0)
    got = submitted(tmp_path, order, Fault("timeout", delay_s=1.2, **PLACE), timeout_ms=300)
    assert got.kinds == ["OrderCancelled", "OrderSubmitted", "OrderAccepted"]
    assert [o.client_id for o in got.on_exchange] == [got.events[1].client_id]  # the late one met -1021


def test_a_503_leaves_the_order_unknown_until_proven_absent_then_resent(tmp_path):
    got = submitted(tmp_path, intent(1, 0.5), Fault("unavailable", **PLACE))
    assert got.trail[1].startswith("unknown: OperationFailed") and lookups(got.trail)[1] == FAST.confirmations
    assert got.kinds == ["OrderCancelled", "OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert (got.posts, len(got.on_exchange)) == (2, 1)


def test_a_dropped_connection_before_processing_is_proven_absent_then_resent(tmp_path):
    got = submitted(tmp_path, intent(1, 0.5), Fault("reset", **PLACE))
    assert got.kinds == ["OrderCancelled", "OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert (got.posts, len(got.on_exchange)) == (2, 1)


def test_a_429_is_waited_out_for_its_retry_after_and_sent_again_under_the_same_id(tmp_path):
    order = intent(1, 0.5)
    got = submitted(tmp_path, order, Fault("rate_limit", retry_after_s=1, **PLACE))
    assert got.kinds == ["OrderAccepted", "OrderFilled"] and got.took >= 1.0
    assert (got.posts, [o.client_id for o in got.on_exchange]) == (2, [order.client_id])


def test_a_429_storm_on_the_look_ups_backs_off_and_completes(tmp_path):
    got = submitted(tmp_path, intent(1, 0.5), Fault("lost_response", **PLACE),
                    Fault("rate_limit", times=3, retry_after_s=1, path="/api/v3/order", method="GET"))
    assert got.kinds == ["OrderAccepted", "OrderFilled"] and got.took >= 3.0  # three Retry-After: 1 waits
    assert (got.posts, len(got.on_exchange)) == (1, 1)


def test_a_ban_longer_than_the_patience_refuses_the_order_without_waiting(tmp_path):
    got = submitted(tmp_path, intent(1, 0.5), Fault("ip_ban", retry_after_s=600, **PLACE))
    assert got.kinds == ["OrderRejected"] and "Way too much request weight" in got.events[0].reason
    assert got.took < 2.0 and (got.posts, len(got.on_exchange)) == (1, 0)


def test_a_duplicated_delivery_answers_duplicate_order_sent_and_the_existing_order_is_adopted(tmp_path):
    order = limit(1, 0.5, 99.0)
    got = submitted(tmp_path, order, Fault("duplicate", **PLACE))
    assert "Duplicate order sent" in got.trail[1] and got.kinds == ["OrderAccepted"]
    assert (got.posts, len(got.on_exchange), got.listed) == (1, 1, 1)


def test_an_order_still_unknown_when_patience_runs_out_stays_unknown_not_rejected_and_poll_resolves_it(tmp_path):
    order = intent(1, 0.5)
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        async def scenario():
            async with venue_on(emu, journal, proof=dataclasses.replace(FAST, patience_s=1.0)) as venue:
                emu.inject(Fault("lost_response", **PLACE),
                           Fault("unavailable", times=None, path="/api/v3/order", method="GET"))  # look-ups fail
                submitted, phase = await venue.submit(command(order)), venue.phase(order.client_id)
                emu.clear_faults()
                return submitted, phase, await venue.poll(), venue.phase(order.client_id), await venue.poll()

        submitted, phase, polled, after, again = run(scenario())
    assert (submitted, phase) == ([], Phase.UNKNOWN)  # no event: neither accepted nor rejected
    assert [type(e) for e in polled] == [OrderAccepted, OrderFilled] and polled[1].done
    assert (after, again, len(exchange_orders(emu))) == (Phase.PLACED, [], 1)


def test_a_duplicated_market_order_fills_twice_at_the_exchange_and_the_audit_names_it(tmp_path):
    order, other = intent(1, 0.1), intent(2, 0.1)
    with trading_emulator() as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        async def scenario():
            async with venue_on(emu, journal) as venue:
                clean = await venue.audit(NOW - 60_000, [])
                emu.inject(Fault("duplicate", **PLACE))  # a proxy delivers it twice: the first closes at once
                events = await venue.submit(command(order))
                await venue.exchange.create_order(SYMBOL, "market", "buy", 0.1, None, {"clientOrderId": other.client_id})
                return clean, events, await venue.audit(NOW - 60_000, [order.client_id])

        clean, events, problems = run(scenario())
    assert clean == [] and [type(e) for e in events] == [OrderAccepted, OrderFilled]  # the answer was the second's
    assert [o.client_id for o in exchange_orders(emu)] == [order.client_id, order.client_id, other.client_id]
    assert problems == [f"{order.client_id} names 2 orders on {SYMBOL} (1, 2): one intent, placed 2 times",
                        f"{other.client_id} ({SYMBOL}, order 3) is in no journal row"]
