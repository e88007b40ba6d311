"""Every built-in strategy meets the contract, is causal and has a sufficient warm-up; the checker
catches strategies that are not."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategy.bars import Bars
from engine.strategy.causality import check_causality
from engine.strategy.signals import Signals
from engine.strategy.contract import BUILTINS, load_strategy
from tests.conftest import make_candles


def make_bars(n: int, seed: int) -> Bars:
    return Bars.from_frame(make_candles(n, seed=seed))


@pytest.mark.parametrize("name", BUILTINS)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), t=st.integers(0, 699))
def test_strategy_is_causal_and_warmup_sufficient(name, seed, t):
    strategy = load_strategy(name)
    p = strategy.params()
    bars = make_bars(700, seed)
    t = max(t, p.warmup - 1)
    full = strategy.signals(bars, p).columns
    prefix = strategy.signals(bars[: t + 1], p).columns
    window = strategy.signals(bars[t + 1 - p.warmup: t + 1], p).columns
    for column, values in full.items():
        for other in (prefix, window):
            a, b = values[t], other[column][-1]
            assert (np.isnan(a) and np.isnan(b)) if values.dtype == np.float64 and np.isnan(a) else np.isclose(a, b, rtol=1e-9)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_pass_the_causality_checker(name):
    strategy = load_strategy(name)
    assert check_causality(strategy, make_bars(1500, 7), strategy.params(), cuts=30) == []


PEEKING = """
from dataclasses import dataclass
import numpy as np
from engine.strategy.signals import Signals

@dataclass(frozen=True)
class Params:
    window: int = 5
    @property
    def warmup(self):
        return self.window

GRID = {"window": [5, 10]}

def signals(bars, p):
    tomorrow = np.r_[bars.close[1:], bars.close[-1]]   # looks one bar ahead
    return Signals(entries=tomorrow > bars.close, exits=tomorrow < bars.close)
"""

SHORT_WARMUP = """
from dataclasses import dataclass
from engine.strategy.indicators_nb import crossed_above_nb, sma_nb
from engine.strategy.signals import Signals

@dataclass(frozen=True)
class Params:
    slow: int = 40
    @property
    def warmup(self):
        return 10          # far less than the SMA(40) it needs

GRID = {"slow": [40]}

def signals(bars, p):
    fast, slow = sma_nb(bars.close, 5), sma_nb(bars.close, p.slow)
    return Signals(entries=crossed_above_nb(fast, slow), exits=crossed_above_nb(slow, fast))
"""


def test_a_look_ahead_strategy_is_caught_at_its_first_bar(tmp_path):
    path = tmp_path / "peeking.py"
    path.write_text(textwrap.dedent(PEEKING))
    strategy = load_strategy(str(path))
    violations = check_causality(strategy, make_bars(400, 1), strategy.params(), cuts=20)
    assert violations and violations[0].kind == "look-ahead"
    assert violations[0].column in ("entries", "exits") and "look-ahead at bar" in violations[0].describe()


def test_a_too_short_warmup_is_caught(tmp_path):
    path = tmp_path / "short_warmup.py"
    path.write_text(textwrap.dedent(SHORT_WARMUP))
    strategy = load_strategy(str(path))
    violations = check_causality(strategy, make_bars(600, 2), strategy.params(), cuts=60)
    assert violations and {v.kind for v in violations} == {"warm-up too short"}


def test_modules_that_miss_the_contract_are_named(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("GRID = {'a': [1]}\n")
    with pytest.raises(ValueError, match=r"strategy broken does not meet the contract: missing Params; missing signals"):
        load_strategy(str(path))
    with pytest.raises(ValueError, match=r"unknown strategy 'nope'.*sma_cross"):
        load_strategy("nope")


def test_parameters_are_typed_and_validated():
    strategy = load_strategy("sma_cross")
    assert strategy.params({"fast": "7", "slow": "30"}) == strategy.Params(7, 30)
    with pytest.raises(ValueError, match="parameter fast of sma_cross is int; got '1.5'"):
        strategy.params({"fast": "1.5"})
    with pytest.raises(ValueError, match="sma_cross has no parameter fats; its parameters are fast, slow"):
        strategy.params({"fats": 3})
    with pytest.raises(ValueError, match="sma_cross: sma_cross needs 0 < fast < slow"):
        strategy.params({"fast": 30, "slow": 10})
    assert len(list(strategy.grid_params())) == 355  # 400 pairs, fast < slow kept


def test_signals_from_a_target_enter_on_the_turn_to_long_and_exit_on_the_turn_to_flat():
    signals = Signals.from_target(np.array([False, True, True, False, True]))
    assert signals.entries.tolist() == [False, True, False, False, True]
    assert signals.exits.tolist() == [False, False, False, True, False]
