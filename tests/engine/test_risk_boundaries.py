"""Every risk rule just inside and just outside its threshold: a rule whose threshold is doubled, halved or
off by one bar fails here (a test that only checks "far over the limit is blocked" would not notice).

All-in entries of 1,000 quote at 100 (10 units), no fees or slippage, so equity is 10 x the price.
"""

from __future__ import annotations

import pytest

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.market_rules import unrestricted
from engine.replay import replay
from engine.core.risk import RiskConfig, RiskLimits
from tests.engine.test_replay import bars_of, signals_at

FREE, IDEAL, NO_COSTS = unrestricted("T/USDT"), Realism.ideal(), Costs(0.0, 0.0, 1000.0)
DAY_MS = 86_400_000


def entries_filled(bars: Bars, signals, limits: RiskLimits, costs: Costs = NO_COSTS) -> int:
    result = replay(bars, signals, costs, IDEAL, FREE, RiskConfig(limits))
    return sum(1 for fill in result.fills if fill.side > 0)


@pytest.mark.parametrize("px, allowed", [(70.1, True), (69.9, False)])
def test_drawdown_breaker_at_its_threshold(px, allowed):
    """Peak 1,000; after selling at `px` equity is 10 x px: 701 is 29.9% below the peak, 699 is 30.1%."""
    bars = bars_of([100, 100, px, px, px, px])
    signals = signals_at(6, entries=[0, 4], exits=[2])
    assert entries_filled(bars, signals, RiskLimits(max_drawdown_rate=0.3)) == (2 if allowed else 1)


@pytest.mark.parametrize("px, allowed", [(80.1, True), (79.9, False)])
def test_daily_loss_limit_at_its_threshold(px, allowed):
    """Day one closes at 1,000 (10 units at 100); on day two equity falls to 10 x px before the next entry."""
    base = bars_of([100, 100, 100, 100, px, px, px, px])
    ts = base.ts_ms.copy()
    ts[4:] += DAY_MS
    bars = Bars(ts, base.open, base.high, base.low, base.close, base.volume)
    signals = signals_at(8, entries=[0, 6], exits=[4])
    assert entries_filled(bars, signals, RiskLimits(daily_loss_rate=0.2)) == (2 if allowed else 1)


@pytest.mark.parametrize("streak, blocked", [(3, False), (2, True)])
def test_a_loss_streak_triggers_at_exactly_its_length(streak, blocked):
    """Two losing round trips (fees only): a streak limit of 2 starts the cooldown, a limit of 3 does not."""
    bars = bars_of([100.0] * 10)
    signals = signals_at(10, entries=[0, 2, 4], exits=[1, 3])
    limits = RiskLimits(loss_streak=streak, cooldown_bars=5)
    assert entries_filled(bars, signals, limits, Costs(0.001, 0.0, 1000.0)) == (2 if blocked else 3)


@pytest.mark.parametrize("entry_bar, allowed", [(6, False), (7, True)])
def test_the_cooldown_lasts_exactly_its_bars(entry_bar, allowed):
    """The second losing round trip closes on bar 4 (sold at its open): a 3-bar cooldown blocks entries
    that would fill on bars 5 to 7, i.e. decided up to bar 6, and allows the one decided on bar 7."""
    bars = bars_of([100.0] * 12)
    signals = signals_at(12, entries=[0, 2, entry_bar], exits=[1, 3])
    limits = RiskLimits(loss_streak=2, cooldown_bars=3)
    assert entries_filled(bars, signals, limits, Costs(0.001, 0.0, 1000.0)) == (3 if allowed else 2)


@pytest.mark.parametrize("limits, spent", [
    (RiskLimits(max_position_rate=0.25), 250.0),
    (RiskLimits(max_exposure_rate=0.3), 300.0),
    (RiskLimits(max_position_rate=0.6, max_exposure_rate=0.5), 500.0),  # the tighter of the two
])
def test_position_and_exposure_limits_cut_an_entry_to_exactly_their_share(limits, spent):
    bars = bars_of([100.0] * 4)
    result = replay(bars, signals_at(4, entries=[0]), NO_COSTS, IDEAL, FREE, RiskConfig(limits))
    (fill,) = result.fills
    assert fill.qty * fill.px == pytest.approx(spent, rel=1e-12)


def test_a_second_entry_signal_while_a_position_is_held_adds_nothing():
    """No pyramiding, even with cash left: the loop drops an entry while in (vectorbt's rule), before the
    risk book's max_positions could see it."""
    bars = bars_of([100.0] * 6)
    half = RiskLimits(max_position_rate=0.5)
    signals = signals_at(6, entries=[0, 2])
    assert entries_filled(bars, signals, half) == 1


def test_a_day_that_starts_on_a_visited_bar_opens_at_the_previous_close():
    """Day one ends at 1,200 (10 units at 120). Day two's first bar is visited (the exit fills on it); by the
    second entry equity is 1,000, 16.7% below the day's opening 1,200: refused. (The book used to keep day
    one's opening 1,000 when a stretch began on a new day's first bar, and let it through.)"""
    base = bars_of([100, 100, 110, 120, 120, 120, 120, 100, 100, 100])
    ts = base.ts_ms.copy()
    ts[4:] += DAY_MS
    bars = Bars(ts, base.open, base.high, base.low, base.close, base.volume)
    signals = signals_at(10, entries=[0, 5, 8], exits=[3, 7])
    assert entries_filled(bars, signals, RiskLimits(daily_loss_rate=0.1)) == 2
    assert entries_filled(bars, signals, RiskLimits(daily_loss_rate=0.2)) == 3
