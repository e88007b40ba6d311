"""Marking to market from the books' records equals valuing bar by bar, borrow interest included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sim.valuation import closes_before, value_bars


def bar_by_bar(starts, cash, qty, close, borrow_per_bar):
    """The reference: walk every bar, switching books at each record, paying interest bar by bar."""
    equity, position = np.empty(len(close)), np.empty(len(close))
    k, paid = 0, 0.0
    for b in range(len(close)):
        while k + 1 < len(starts) and starts[k + 1] <= b:
            k, paid = k + 1, 0.0
        if qty[k] < 0:
            paid += -qty[k] * borrow_per_bar * close[b]
        equity[b], position[b] = cash[k] - paid + qty[k] * close[b], qty[k]
    return equity, position


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**32 - 1), borrow=st.sampled_from([0.0, 1e-4]))
def test_the_one_pass_valuation_equals_walking_every_bar(n, seed, borrow):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    starts = np.unique(np.r_[0, rng.integers(0, n, rng.integers(0, 8))])  # ascending, the first at bar 0
    starts = np.sort(np.r_[starts, starts[rng.random(len(starts)) < 0.2]])  # some bars recorded twice: the later wins
    cash, qty = rng.uniform(0, 2000, len(starts)), rng.choice([-5.0, 0.0, 3.0], len(starts))
    later = np.r_[starts[1:] != starts[:-1], True]
    want = bar_by_bar(starts[later], cash[later], qty[later], close, borrow)
    got = value_bars(starts, cash, qty, close, 0, n, borrow, closes_before(close))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got[1], want[1])
    lo = int(starts[-1])  # the stretch after the last record alone, as the risk rules read it
    tail = value_bars(starts[-1:], cash[-1:], qty[-1:], close, lo, n, borrow, closes_before(close))
    np.testing.assert_allclose(tail[0], want[0][lo:], rtol=1e-9, atol=1e-9)


def test_a_short_record_pays_interest_on_each_close_from_its_own_cash():
    close = np.array([10.0, 20.0, 30.0])
    equity, held = value_bars(np.array([0, 1]), np.array([100.0, 300.0]), np.array([0.0, -10.0]), close, 0, 3,
                              0.01, closes_before(close))
    assert held.tolist() == [0.0, -10.0, -10.0]
    assert equity.tolist() == pytest.approx([100.0, 300 - 2 - 200, 300 - 2 - 3 - 300])
