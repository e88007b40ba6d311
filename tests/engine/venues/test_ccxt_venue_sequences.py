"""Random sequences of submits, cancels and injected faults through the ccxt venue (real async ccxt client,
the emulator, a real journal). Whatever the sequence: every client id maps to at most one order on the
exchange, every order the exchange holds for the deployment is known to the journal, and the balances the
journal's fills imply equal the exchange's, to the last unit of the asset."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.commands import CancelOrder
from engine.live.journal import Journal
from engine.venues.emulator import Fault
from tests.engine.venues.conftest import NOW
from tests.engine.venues.venue_kit import (DEPLOYMENT, command, exchange_orders, family, intent, limit, run,
                                           trading_emulator, venue_on)

PLACE = {"path": "/api/v3/order", "method": "POST"}
FAULTS = [None, Fault("lost_response", **PLACE), Fault("lost_response", hidden_s=0.3, **PLACE),
          Fault("unavailable", **PLACE), Fault("status_unknown", **PLACE),
          Fault("status_unknown", code=-1006, placed=False, **PLACE), Fault("reset", **PLACE)]

actions = st.lists(st.one_of(
    st.tuples(st.just("market"), st.sampled_from([0.1, 0.25]), st.sampled_from(range(len(FAULTS)))),
    st.tuples(st.just("limit"), st.sampled_from([98.5, 99.5]), st.sampled_from(range(len(FAULTS)))),
    st.tuples(st.just("cancel"), st.integers(0, 5), st.just(0))), min_size=1, max_size=5)


async def play(emu, journal: Journal, steps) -> list[str]:
    """Each step through one venue, its events journaled as a runner would; the client ids it made."""
    made: list[str] = []
    async with venue_on(emu, journal) as venue:
        for i, (kind, value, fault) in enumerate(steps):
            if kind == "cancel":
                if made:
                    journal.append(DEPLOYMENT, await venue.cancel(CancelOrder(NOW, made[value % len(made)], "test")))
                continue
            order = intent(i, value) if kind == "market" else limit(i, 0.2, value)
            if FAULTS[fault] is not None:
                emu.inject(FAULTS[fault])
            journal.append(DEPLOYMENT, await venue.submit(command(order)))
            emu.clear_faults()
            made.append(order.client_id)
        journal.append(DEPLOYMENT, await venue.poll())
    return made


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions)
def test_random_submits_cancels_and_faults_leave_one_order_per_intent_all_known_and_balances_agreeing(tmp_path_factory,
                                                                                                      steps):
    path = tmp_path_factory.mktemp("sequence") / "journal.sqlite"
    with trading_emulator() as emu, Journal.open(path) as journal:
        made = run(play(emu, journal, steps))
        on_exchange = exchange_orders(emu)
        for client_id in made:  # one intent (all its attempts): at most one order on the exchange
            assert len([o for o in on_exchange if o.client_id.startswith(family(client_id))]) <= 1, client_id
        side = {row.client_id: row.side for row in journal.orders(DEPLOYMENT)}
        assert {o.client_id for o in on_exchange} <= set(side)
        implied = {"USDT": Decimal(10000), "BTC": Decimal(1)}
        for fill in journal.fills_since(DEPLOYMENT):
            qty, notional = Decimal(str(fill.qty)), Decimal(str(fill.qty)) * Decimal(str(fill.px))
            buy = side[fill.client_id] > 0
            implied["BTC"] += qty if buy else -qty
            implied["USDT"] += -notional if buy else notional
            implied[fill.fee_asset] -= Decimal(str(fill.fee))
        held = {asset: free + locked for asset, free, locked in emu.book.balances.rows()}
        for asset, amount in implied.items():
            assert abs(held[asset] - amount) <= Decimal("1e-8"), (asset, held[asset], amount, steps)
