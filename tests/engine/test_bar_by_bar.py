"""The bar-by-bar driver (every bar visited, every live order offered every bar, no look at bars to come)
gives what the default driver gives: the proof that skipping idle bars and scheduling resting orders
change nothing. On the golden cases (real candles: stops, partial fills, shorts, reversals, risk rules)
and on random strategies over random bars."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategy.bars import Bars
from engine.core.events import BarClosed, InterestCharged
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.market_rules import MarketRules
from engine.replay import ReplayResult, replay
from engine.core.risk import RiskConfig, RiskLimits, Sizing
from engine.strategy.signals import Signals
from engine.strategy.contract import load_strategy
from tests.conftest import shared_candles
from tests.engine.test_golden_replay import CASES, Case
from tests.engine.test_replay import random_bars


def assert_same_books(skipping: ReplayResult, stepping: ReplayResult) -> None:
    """Identical orders, fills, events and equity, bit for bit: a short's interest is booked and valued from
    the bar its position last changed, so both drivers hold the same cash at every bar whichever bars they
    visit."""
    def books(result: ReplayResult) -> list[tuple]:
        orders = [(o.client_id, o.status, o.filled_qty, o.avg_px, o.fees, o.reason) for o in result.orders]
        events = [tuple(e) for e in result.events if not isinstance(e, (BarClosed, InterestCharged))]
        return orders + [tuple(f) for f in result.fills] + events

    assert books(skipping) == books(stepping)
    np.testing.assert_array_equal(skipping.position, stepping.position)
    np.testing.assert_array_equal(skipping.equity, stepping.equity)
    assert (skipping.ledger.cash, skipping.ledger.interest_paid) == (stepping.ledger.cash, stepping.ledger.interest_paid)
    bars = len(skipping.bars)
    assert sum(e.bars for e in skipping.events if isinstance(e, BarClosed)) == bars
    assert [e.bars for e in stepping.events if isinstance(e, BarClosed)] == [1] * bars  # one closed candle at a time
    assert all(type(v) is not np.float64 for e in skipping.events for v in e)  # plain Python numbers in records


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bar_by_bar_equals_the_default_driver_on_the_golden_cases(case: Case):
    bars = Bars.from_frame(shared_candles(case.file).iloc[slice(*case.rows)])
    strategy = load_strategy(case.strategy)
    signals = strategy.signals(bars, strategy.params(case.params))
    args = (bars, signals, case.costs, case.realism, case.rules, case.risk)
    assert_same_books(replay(*args), replay(*args, bar_by_bar=True))


@st.composite
def sessions(draw):
    n = draw(st.integers(5, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bars = random_bars(rng, n, bar_ms=3_600_000, gap_rate=0.003, volume=(1.0, 60.0))

    def column(rate: float) -> np.ndarray:
        return rng.random(n) < rate

    shorts = draw(st.booleans())
    stops = draw(st.sampled_from([None, 0.01, 0.03]))
    signals = Signals(column(0.15), column(0.1), short_entries=column(0.1) if shorts else None,
                      short_exits=column(0.1) if shorts else None,
                      sl_stop=np.full(n, stops) if stops else None, tp_stop=np.full(n, 0.04) if stops else None)
    realism = Realism(exchange_rules=draw(st.booleans()), partial_fills=draw(st.booleans()), participation_cap=0.2,
                      latency_bars=draw(st.integers(0, 2)), impact_rate=draw(st.sampled_from([0.0, 0.05])),
                      borrow_rate=draw(st.sampled_from([0.0, 0.1])), vectorbt_stops=draw(st.booleans()))
    risk = draw(st.sampled_from([None, RiskConfig(RiskLimits(max_drawdown_rate=0.1, loss_streak=2, cooldown_bars=3),
                                                  Sizing("fixed_fraction", fraction=0.5))]))
    return bars, signals, realism, risk


@settings(max_examples=120, deadline=None)
@given(session=sessions())
def test_bar_by_bar_equals_the_default_driver_on_random_strategies(session):
    bars, signals, realism, risk = session
    rules = MarketRules("T/USDT", qty_step=0.001, px_tick=0.01, min_qty=0.001, min_notional=1.0)
    args = (bars, signals, Costs(0.001, 0.0005, 1000.0, maker_fee_rate=0.0002), realism, rules, risk)
    assert_same_books(replay(*args), replay(*args, bar_by_bar=True))


def test_a_partly_filled_stop_is_not_refused_when_its_bar_has_less_than_a_lot_left():
    """Found by the property above: a stop that took the bar's volume cap (3.777 of it, 0.0007 short of a
    0.001 lot) was offered again on the same bar and cancelled as a LOT_SIZE refusal. What is left of a
    bar's volume below one lot is no volume: the stop rests and the position stays protected."""
    ts = np.arange(5, dtype=np.int64) * 3_600_000
    bars = Bars(ts, np.array([100.134, 100.5315, 102.5405, 103.1533, 100.4783]),
                np.array([101.7005, 103.3855, 104.071, 104.1849, 103.2463]),
                np.array([99.1327, 99.5262, 101.5151, 99.3858, 99.4736]),
                np.array([100.6936, 102.3619, 103.0406, 100.3897, 102.224]),
                np.array([45.4573, 32.7505, 20.4542, 47.5173, 18.8885]))
    entries = np.array([False, True, False, False, False])
    signals = Signals(entries, np.zeros(5, bool), sl_stop=np.full(5, 0.01), tp_stop=np.full(5, 0.04))
    rules = MarketRules("T/USDT", qty_step=0.001, px_tick=0.01, min_qty=0.001, min_notional=1.0)
    realism = Realism(partial_fills=True, participation_cap=0.2, vectorbt_stops=True)
    for bar_by_bar in (False, True):
        result = replay(bars, signals, Costs(0.001, 0.0005, 1000.0), realism, rules, bar_by_bar=bar_by_bar)
        stop = result.orders[1]
        assert stop.status.value == "partially_filled" and stop.filled_qty == pytest.approx(3.777) and not stop.reason
