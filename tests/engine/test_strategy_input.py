"""A strategy's mistakes become one clear error: sizes and stops no order can take (naming the strategy, its
parameters and the first bar), an exception inside signals() (naming its file and line), and a backward
fill in the warm-up region (caught by the causality check)."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from engine.strategy.bars import Bars
from engine.strategy.causality import check_causality
from engine.strategy.contract import StrategyError, load_strategy
from research.cli import app
from tests.conftest import make_candles

TEMPLATE = """
from dataclasses import dataclass
import numpy as np
import pandas as pd
from engine.strategy.indicators_nb import sma_nb
from engine.strategy.signals import Signals

@dataclass(frozen=True)
class Params:
    fast: int = 5
    slow: int = 20
    @property
    def warmup(self):
        return self.slow + 1

GRID = {"fast": [5], "slow": [20]}

def signals(bars, p):
BODY
"""
BODIES = {
    "nan_size": """    s = Signals.from_target(sma_nb(bars.close, p.fast) > sma_nb(bars.close, p.slow))
    return Signals(s.entries, s.exits, size=np.full(len(bars), np.nan))""",
    "big_size": """    s = Signals.from_target(sma_nb(bars.close, p.fast) > sma_nb(bars.close, p.slow))
    return Signals(s.entries, s.exits, size=np.full(len(bars), 1.5))""",
    "negative_stop": """    s = Signals.from_target(sma_nb(bars.close, p.fast) > sma_nb(bars.close, p.slow))
    return Signals(s.entries, s.exits, sl_stop=np.where(np.arange(len(bars)) >= 30, -0.02, 0.02))""",
    "raises": """    key = len(bars)
    return {"not": "signals"}[key]""",
    "bfill": """    close = pd.Series(bars.close)
    fast = close.rolling(p.fast).mean().bfill()   # fills the warm-up with a later value: a leak
    slow = close.rolling(p.slow).mean().bfill()
    return Signals.from_target((fast > slow).to_numpy())""",
}


def strategy_file(tmp_path, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(TEMPLATE).replace("BODY", BODIES[name]))
    return path


BARS = Bars.from_frame(make_candles(300, seed=3))


@pytest.mark.parametrize("name, message", [
    ("nan_size", r"nan_size Params\(fast=5, slow=20\): size must be in \(0, 1\] at every entry; it is nan at bar \d+ "
                 r"\(2024-01-0\d \d\d:00 UTC\), the first of \d+ such bar"),
    ("big_size", r"big_size Params\(fast=5, slow=20\): size must be in \(0, 1\] at every entry; it is 1.5 at bar"),
    ("negative_stop", r"negative_stop Params\(fast=5, slow=20\): sl_stop must be NaN \(no stop\) or a distance >= 0; "
                      r"it is -0.02 at bar 30 \(2024-01-02 06:00 UTC\), the first of 270 such bar"),
])
def test_sizes_and_stops_no_order_can_take_are_refused(tmp_path, name, message):
    strategy = load_strategy(str(strategy_file(tmp_path, name)))
    with pytest.raises(StrategyError, match=message):
        strategy.signals(BARS, strategy.params())


def test_an_exception_in_signals_names_its_file_line_and_parameters(tmp_path):
    path = strategy_file(tmp_path, "raises")
    strategy = load_strategy(str(path))
    with pytest.raises(StrategyError) as caught:
        strategy.signals(BARS, strategy.params())
    line = textwrap.dedent(TEMPLATE).replace("BODY", BODIES["raises"]).splitlines().index('    return {"not": "signals"}[key]') + 1
    assert str(caught.value).startswith("raises Params(fast=5, slow=20): signals() raised KeyError: 300 ")
    assert str(caught.value).endswith(f"(at {path}:{line})")


def test_the_sweep_shows_one_clear_error_for_a_broken_strategy(tmp_path, env_cache):
    result = CliRunner().invoke(app, ["sweep", str(strategy_file(tmp_path, "nan_size")), "--symbol", "BTC/USDT"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "size must be in (0, 1] at every entry; it is nan at bar" in " ".join(result.output.split())
    raised = CliRunner().invoke(app, ["sweep", str(strategy_file(tmp_path, "raises")), "--symbol", "BTC/USDT"])
    assert raised.exit_code != 0 and "Traceback" not in raised.output
    assert "signals() raised KeyError" in " ".join(raised.output.split())


def test_a_bfill_leak_in_the_warmup_region_is_caught(tmp_path):
    strategy = load_strategy(str(strategy_file(tmp_path, "bfill")))
    violations = check_causality(strategy, BARS, strategy.params(), cuts=20)
    assert violations and {v.kind for v in violations} == {"look-ahead"}
    assert all(v.bar < strategy.params().warmup - 1 for v in violations)  # only the warm-up region leaks


def test_gauntlet_check_causality_fails_a_bfill_leak(tmp_path):
    result = CliRunner().invoke(app, ["check", "causality", str(strategy_file(tmp_path, "bfill"))])
    assert result.exit_code == 1 and "FAIL" in result.output and "look-ahead at bar" in " ".join(result.output.split())
