"""The realistic-vs-ideal attribution names each feature's signed effect on final equity, and says in words
when realism makes a strategy look better."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.market_rules import unrestricted
from engine.replay import replay
from engine.strategy.contract import load_strategy
from research.parity import attribute, describe_step
from tests.conftest import shared_candles


def test_a_volume_cap_that_spares_a_losing_strategy_is_a_positive_effect_said_in_words():
    bars = Bars.from_frame(shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"))[:1500]
    strategy = load_strategy("sma_cross")
    signals = strategy.signals(bars, strategy.params({"fast": 5, "slow": 20}))
    costs = Costs(fee_rate=0.01, slippage_rate=0.001, init_cash=1e9)  # 1% fees: every round trip loses
    rules = unrestricted("test")
    ideal = replay(bars, signals, costs, Realism.ideal(), rules)
    realism = replace(Realism.ideal(), partial_fills=True, participation_cap=0.01)  # only the volume cap
    (step,) = attribute(bars, signals, costs, realism, rules, None, ideal)
    realistic = replay(bars, signals, costs, realism, rules)
    assert step["effect"] == pytest.approx(float(realistic.equity[-1] - ideal.equity[-1]), rel=1e-12)
    assert step["effect"] > 0 and "cost" not in step  # capped orders lost less: realism flattered it
    text = describe_step(step)
    assert f"+{step['effect']:,.2f}" in text
    assert "adds" in text and "look better" in text and "costs" not in text
    assert "costs 12.50" in describe_step({"step": "fees", "final_equity": 87.5, "effect": -12.5})
