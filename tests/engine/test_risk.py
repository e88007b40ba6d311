"""Risk rules block entries with a reason (never exits), and sizing commits what it says."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.events import RiskChecked
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.market_rules import unrestricted
from engine.replay import replay
from engine.core.risk import RiskConfig, RiskLimits, Sizing, half_kelly
from engine.strategy.signals import Signals
from tests.engine.test_replay import bars_of, signals_at

FREE, IDEAL, NO_COSTS = unrestricted("T/USDT"), Realism.ideal(), Costs(0.0, 0.0, 1000.0)


def decisions(result) -> list[str]:
    return [e.describe() for e in result.events if isinstance(e, RiskChecked)]


def rules(result) -> list[str | None]:
    return [e.rule for e in result.events if isinstance(e, RiskChecked)]


def test_drawdown_circuit_breaker_blocks_entries_but_not_exits():
    bars = bars_of([100, 100, 60, 60, 60, 60, 60])  # bought at 100, sold at 60: 40% below the peak
    signals = signals_at(7, entries=[0, 3], exits=[1])
    result = replay(bars, signals, NO_COSTS, IDEAL, FREE, RiskConfig(RiskLimits(max_drawdown_rate=0.3)))
    assert [f.side for f in result.fills] == [1, -1]  # the exit went through, the second entry did not
    assert rules(result) == [None, "max_drawdown"]
    assert decisions(result)[0].startswith("allowed") and "drawdown circuit breaker" in decisions(result)[1]


def test_daily_loss_limit_uses_the_utc_day_start():
    opens = [100.0] * 4 + [80.0] * 4
    bars = bars_of(opens)
    ts = bars.ts_ms.copy()
    ts[4:] += 86_400_000  # bars 4.. fall on the next UTC day
    bars = bars.__class__(ts, bars.open, bars.high, bars.low, bars.close, bars.volume)
    signals = signals_at(8, entries=[0, 5], exits=[3])
    loose = replay(bars, signals, NO_COSTS, IDEAL, FREE, RiskConfig(RiskLimits(daily_loss_rate=0.5)))
    tight = replay(bars, signals, NO_COSTS, IDEAL, FREE, RiskConfig(RiskLimits(daily_loss_rate=0.1)))
    assert len(loose.fills) == 3 and len(tight.fills) == 2
    assert "daily_loss" in rules(tight) and any("daily loss limit" in d for d in decisions(tight))


def test_a_losing_streak_starts_a_cooldown():
    bars = bars_of([100, 100, 90, 90, 80, 80, 80, 80, 80, 80])
    signals = signals_at(10, entries=[0, 2, 4, 7], exits=[1, 3, 5])
    limits = RiskLimits(loss_streak=2, cooldown_bars=3)
    result = replay(bars, signals, Costs(0.001, 0.0, 1000.0), IDEAL, FREE, RiskConfig(limits))
    assert [rule for rule in rules(result) if rule is not None] == ["cooldown"]
    assert [f.bar for f in result.fills if f.side > 0] == [1, 3, 8]  # entry decided at 4 blocked, at 7 allowed


def test_a_required_stop_refuses_entries_without_one():
    bars = bars_of([100.0] * 4)
    plain = signals_at(4, entries=[0])
    with_stop = Signals(plain.entries, plain.exits, sl_stop=np.full(4, 0.05))
    config = RiskConfig(RiskLimits(require_stop=True))
    assert not replay(bars, plain, NO_COSTS, IDEAL, FREE, config).fills
    assert len(replay(bars, with_stop, NO_COSTS, IDEAL, FREE, config).fills) == 1


@pytest.mark.parametrize("sizing, limits, spent", [
    (Sizing("fixed_fraction", fraction=0.25), RiskLimits(), 250.0),
    (Sizing("all"), RiskLimits(max_position_rate=0.4), 400.0),
    (Sizing("atr", risk_per_trade=0.01, atr_mult=2.0), RiskLimits(), None),
])
def test_sizing_and_position_limits_set_the_quote_spent(sizing, limits, spent):
    bars = bars_of([100.0] * 40)
    result = replay(bars, signals_at(40, entries=[30]), NO_COSTS, IDEAL, FREE, RiskConfig(limits, sizing))
    (fill,) = result.fills
    if spent is None:  # 1% of equity over two ATRs: ATR of these bars is 2 (high-low), so 10 / 4 = 2.5 units
        assert fill.qty == pytest.approx(2.5, rel=1e-6)
    else:
        assert fill.qty * fill.px == pytest.approx(spent)


def test_half_kelly_by_hand():
    # W = 0.6, average win 2, average loss 1 -> Kelly 0.6 - 0.4 / 2 = 0.4, half of it 0.2
    assert half_kelly([2.0, 2.0, 2.0, -1.0, -1.0]) == pytest.approx(0.2)
    assert half_kelly([1.0, 1.0]) is None and half_kelly([-1.0, -5.0, 0.5]) == 0.0
    with pytest.raises(ValueError, match="unknown sizing"):
        Sizing("martingale")
    with pytest.raises(ValueError, match="max_drawdown_rate must be in"):
        RiskLimits(max_drawdown_rate=1.5)


def test_a_short_is_sized_checked_and_refused_like_a_long():
    bars = bars_of([100.0] * 6)
    shorts = signals_at(6, short_entries=[0], short_exits=[2])
    half = replay(bars, shorts, NO_COSTS, IDEAL, FREE, RiskConfig(RiskLimits(), Sizing("fixed_fraction", 0.5)))
    short = half.fills[0]
    assert short.side == -1 and short.qty * short.px == pytest.approx(500.0)  # half the equity, committed
    assert half.ledger.round_trips[0].direction == -1
    unprotected = replay(bars, shorts, NO_COSTS, IDEAL, FREE, RiskConfig(RiskLimits(require_stop=True)))
    assert not unprotected.fills
    assert decisions(unprotected) == ["blocked: the strategy must carry a stop-loss on every entry"]


def test_the_drawdown_breaker_counts_the_peak_of_a_bar_the_loop_visited():
    bars = bars_of([100.0] * 6, closes=[100.0, 200.0, 100.0, 100.0, 100.0, 100.0])  # the peak closes bar 1, the entry's
    signals = signals_at(6, entries=[0, 3], exits=[2])
    result = replay(bars, signals, NO_COSTS, IDEAL, FREE, RiskConfig(RiskLimits(max_drawdown_rate=0.3)))
    assert result.equity[1] == pytest.approx(2000.0) and [f.bar for f in result.fills] == [1, 3]
    assert decisions(result)[-1].startswith("blocked: drawdown circuit breaker")


def test_a_strategy_that_declares_a_stop_trades_under_a_required_one():
    from engine.strategy.contract import load_strategy

    atr, sma = load_strategy("atr_trend"), load_strategy("sma_cross")
    rules = RiskConfig(RiskLimits(max_drawdown_rate=0.3))
    assert atr.declares_stop and atr.risk_rules(rules).limits == RiskLimits(max_drawdown_rate=0.3, require_stop=True)
    assert sma.risk_rules(rules) is rules and atr.risk_rules(None) is None  # no rules stays no rules (the sweep's)


def test_atr_sizing_reads_only_the_trailing_window_a_runner_holds():
    """The ATR that sizes an entry is the mean true range of the last 14 bars: 2% of 1000 equity over 2 ATRs
    of 2.0 buys 5 units at 100; bars before the window (a runner started later never saw them) change nothing."""
    opens = [100.0] * 30
    bars = bars_of(opens)  # every bar spans open +- 1: a true range of 2
    early = bars_of([100.0] * 10 + opens[10:])
    high, low = early.high.copy(), early.low.copy()
    high[:10], low[:10] = 150.0, 50.0  # wild bars long before the decision
    early = early.__class__(early.ts_ms, early.open, high, low, early.close, early.volume)
    risk = RiskConfig(sizing=Sizing(method="atr", risk_per_trade=0.02, atr_mult=2.0))
    signals = signals_at(30, entries=[25])
    calm, wild = (replay(b, signals, NO_COSTS, IDEAL, FREE, risk) for b in (bars, early))
    wanted = [e.wanted_quote for e in calm.events if isinstance(e, RiskChecked)]
    assert wanted == pytest.approx([1000 * 0.02 / (2.0 * 2.0) * 100.0])
    assert [e.wanted_quote for e in wild.events if isinstance(e, RiskChecked)] == wanted
    assert [tuple(f) for f in calm.fills] == [tuple(f) for f in wild.fills]


def test_a_window_decides_with_the_atr_replay_sizes_with():
    """Paper and live turn a window's last row into a decision (`last_decision`); replay makes all of them
    from the whole history (`_decisions`): the sizing ATR of each is the same number, to the bit."""
    from engine.replay import _decisions, last_decision
    from engine.strategy.trailing import SIZING_ATR_HISTORY
    from tests.engine.test_replay import random_bars

    bars = random_bars(np.random.default_rng(7), 200, bar_ms=60_000, gap_rate=0.0, volume=(1.0, 5.0))
    entries = np.zeros(200, bool)
    entries[[20, 55, 120, 199]] = True
    signals = Signals(entries, np.zeros(200, bool))
    risk = RiskConfig(sizing=Sizing(method="atr"))
    whole = {d.decided: d.atr for d in _decisions(bars, signals, IDEAL, risk)}
    for c in (20, 55, 120):
        lo = c + 1 - SIZING_ATR_HISTORY
        window = last_decision(bars[lo:c + 1], Signals(entries[lo:c + 1], np.zeros(c + 1 - lo, bool)), c, IDEAL, risk)
        assert window.atr == whole[c] and window.atr > 0
