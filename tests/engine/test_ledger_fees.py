"""Fees in the asset the venue charged them in: quote, base (Binance's commission on the coin received) or a
third asset (BNB). Hand-computed books, and the PnL identity over random fills in every fee asset."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.ledger import Fill, Ledger


def test_a_buy_charged_in_base_receives_less_and_counts_the_fee_at_its_quote_value():
    ledger = Ledger(cash=1000.0)
    ledger.apply(Fill("b", 0, 0, 1, 1.0, 100.0, 0.001, "base", 100.0))  # Binance: 0.1% of the BTC received
    assert ledger.cash == 900.0 and ledger.qty == pytest.approx(0.999) and ledger.fees_paid == pytest.approx(0.1)
    assert ledger.equity(100.0) == pytest.approx(999.9)
    ledger.apply(Fill("s", 1, 60_000, -1, 0.999, 110.0, 0.10989, "quote"))  # the sale's commission is in USDT
    (trip,) = ledger.round_trips
    assert ledger.qty == 0.0 and ledger.cash == pytest.approx(900.0 + 109.89 - 0.10989)
    assert trip.pnl == pytest.approx(ledger.cash - 1000.0) and trip.fees == pytest.approx(0.1 + 0.10989)


def test_a_sale_charged_in_base_delivers_the_fee_on_top():
    ledger = Ledger(cash=1000.0)
    ledger.apply(Fill("b", 0, 0, 1, 2.0, 100.0, 0.2, "quote"))
    ledger.apply(Fill("s", 1, 60_000, -1, 1.0, 100.0, 0.001, "base", 100.0))
    assert ledger.qty == pytest.approx(0.999) and ledger.cash == pytest.approx(1000.0 - 200.2 + 100.0)
    assert ledger.equity(100.0) == pytest.approx(1000.0 - 0.2 - 0.1)


def test_a_fee_in_a_third_asset_is_owed_in_that_asset_and_valued_at_its_last_price():
    ledger = Ledger(cash=1000.0)
    ledger.apply(Fill("b", 0, 0, 1, 1.0, 100.0, 0.0002, "BNB", 500.0))  # 0.1 USDT worth of BNB
    assert ledger.cash == 900.0 and ledger.qty == 1.0 and ledger.balances == {"BNB": -0.0002}
    assert ledger.fees_paid == pytest.approx(0.1) and ledger.equity(100.0) == pytest.approx(999.9)
    ledger.mark("BNB", 600.0)  # BNB rose: what is owed in it is worth more
    assert ledger.equity(100.0) == pytest.approx(999.88)


@st.composite
def fills(draw):
    made, held = [], 0.0
    for k in range(draw(st.integers(1, 25))):
        px = draw(st.floats(50.0, 150.0))
        side = -1 if held > 0.01 and draw(st.booleans()) else 1
        asset = draw(st.sampled_from(["quote", "base", "BNB"]))
        qty = draw(st.floats(0.01, 1.0)) if side > 0 else draw(st.floats(0.005, 1.0)) * held * 0.98
        fee_rate = draw(st.sampled_from([0.0, 0.00075, 0.001]))
        fee, fee_px = {"quote": (qty * px * fee_rate, 1.0), "base": (qty * fee_rate, px),
                       "BNB": (qty * px * fee_rate / 400.0, 400.0)}[asset]
        made.append(Fill(f"f{k}", k, k * 60_000, side, qty, px, fee, asset, fee_px))
        held += side * qty - (fee if asset == "base" else 0.0)
    return made


@settings(max_examples=200, deadline=None)
@given(stream=fills(), final_px=st.floats(50.0, 150.0))
def test_every_quote_of_pnl_is_accounted_for_whatever_asset_the_fees_were_in(stream, final_px):
    ledger = Ledger(cash=1000.0)
    for fill in stream:
        ledger.apply(fill)
    assert ledger.qty >= -1e-12
    pnl = ledger.realized_pnl + ledger.unrealized_pnl(final_px)
    assert pnl == pytest.approx(ledger.equity(final_px) - 1000.0, abs=1e-9)
    assert ledger.fees_paid == pytest.approx(sum(f.fee_quote for f in stream), abs=1e-12)
