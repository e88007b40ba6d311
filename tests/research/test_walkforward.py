"""Walk-forward: no out-of-sample bar reaches the in-sample fit, picks are traded blind, the record is complete."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from engine.core.costs import Costs
from research.splits import SplitSpec
from research.sweep import SweepSpec, score_combos
from research.walkforward import WalkForwardSpec, candidate_of, run_walkforward
from research.walkforward_run import write_walkforward
from tests.conftest import btc_1h_store

COSTS = Costs(0.001, 0.0005, 10_000.0)

SPY = """
from engine.strategy.builtins.sma_cross import GRID, Params, signals as _signals
SEEN = []   # (first, last) open time of every bar window the strategy was shown

def signals(bars, p):
    SEEN.append((int(bars.ts_ms[0]), int(bars.ts_ms[-1])))
    return _signals(bars, p)
"""


@pytest.fixture
def cache(tmp_path):
    return btc_1h_store(tmp_path / "data")


def spec_for(strategy: str, engine: str = "auto", min_trades: int = 0, **splits) -> WalkForwardSpec:
    sweep = SweepSpec(strategy, "binance", ("BTC/USDT",), "1h", params=("fast=5:20:5", "slow=30:90:30"), costs=COSTS,
                      engine=engine)
    return WalkForwardSpec(sweep, SplitSpec(**({"n_folds": 4, "is_size": "60D", "oos_size": "30D", "purge": 12} | splits)),
                           min_trades)


@pytest.mark.parametrize("mode", ["rolling", "anchored"])
def test_no_out_of_sample_bar_is_ever_shown_to_the_in_sample_fit(cache, tmp_path, mode):
    path = tmp_path / "spy.py"
    path.write_text(textwrap.dedent(SPY))
    outcome = run_walkforward(spec_for(str(path), engine="vectorbt", mode=mode, embargo=24), store=cache)
    seen = sys.modules["gauntlet_strategy_spy"].SEEN
    bars = outcome.markets[0].bars
    for result in outcome.folds:
        fold = result.fold
        assert fold.oos_start - fold.is_end >= 12  # the purge gap
        is_last_ms = int(bars.ts_ms[fold.is_end - 1])
        oos_first_ms = int(bars.ts_ms[fold.oos_start])
        fits = [(a, b) for a, b in seen if b == is_last_ms]
        assert len(fits) == 12  # every combination of the grid was fit on a window ending at the IS end
        assert all(b < oos_first_ms for a, b in fits)
    oos_starts = [r.fold.oos_start for r in outcome.folds]
    assert oos_starts == sorted(oos_starts) and outcome.folds[-1].fold.oos_end == len(bars)


def test_picks_are_traded_blind_and_stitched_in_order(cache):
    outcome = run_walkforward(spec_for("sma_cross"), store=cache)
    equity = outcome.stitched["BTC/USDT"]
    bars = outcome.markets[0].bars
    chained = 10_000.0
    for result in outcome.folds:
        fold = result.fold
        params = outcome.strategy.params(result.pick)
        direct = score_combos(outcome.strategy, bars, [params], COSTS, "1h", window=(fold.oos_start, fold.oos_end),
                              every_bar=True)
        np.testing.assert_allclose(result.oos_values.to_numpy(), direct.daily_values[:, 0], rtol=1e-12)
        chained *= result.oos_values.iloc[-1] / 10_000.0
        in_sample = score_combos(outcome.strategy, bars, list(outcome.strategy.grid_params(outcome.grid)), COSTS, "1h",
                                 window=(fold.is_start, fold.is_end))
        assert result.is_metrics["sharpe"] == pytest.approx(np.nanmax(in_sample.metrics[:, 2]), rel=1e-12)
    assert equity.iloc[-1] == pytest.approx(chained, rel=1e-9)
    assert equity.index.is_monotonic_increasing and len(equity) == sum(r.fold.oos_bars for r in outcome.folds)


def test_the_candidate_is_the_most_frequent_pick_latest_on_ties():
    class R:  # the part of FoldResult candidate_of reads
        def __init__(self, pick):
            self.pick = pick
    picks = [{"fast": 5, "slow": 30}, {"fast": 10, "slow": 60}, {"fast": 5, "slow": 30}, {"fast": 10, "slow": 60}, None]
    assert candidate_of([R(p) for p in picks]) == {"fast": 10, "slow": 60}
    assert candidate_of([R(p) for p in picks[:3]]) == {"fast": 5, "slow": 30}
    assert candidate_of([R(None)]) is None


def test_a_walkforward_run_records_plan_folds_equity_and_evidence(cache, tmp_path):
    outcome = run_walkforward(spec_for("sma_cross", min_trades=0), store=cache)
    folder = write_walkforward(outcome, ["gauntlet", "walkforward"], tmp_path / "reports")
    plan = pd.read_csv(folder / "plan.csv")
    assert len(plan) == 4 and (plan["purge_bars"] >= 12).all()
    assert len(pd.read_csv(folder / "folds.csv")) == 4
    equity = pd.read_parquet(folder / "oos_equity.parquet")
    assert list(equity.columns) == ["timestamp", "equity", "symbol"]
    record = json.loads((folder / "run.json").read_text())
    summary = record["results"]["BTC/USDT"]
    assert summary["candidate"] in [r.pick for r in outcome.folds]
    assert {"wfe_return", "wfe_sharpe"} <= set(summary["efficiency"]) and summary["evidence"]["trials"] == 12
    assert {row["param"] for row in summary["stability"]} == {"fast", "slow"}


def test_too_many_folds_is_one_clear_error_and_writes_nothing(cache, tmp_path):
    with pytest.raises(ValueError, match="fold|bars"):
        run_walkforward(spec_for("sma_cross", n_folds=40), store=cache)
    assert not (tmp_path / "reports").exists()


def test_identical_runs_in_the_same_second_get_distinct_ids(tmp_path):
    from research.runs import RunFolder

    with RunFolder.new("sma_cross", {"a": 1}, tmp_path) as first, RunFolder.new("sma_cross", {"a": 1}, tmp_path) as second:
        assert first.run_id != second.run_id and first.run_id.split("-")[1:] == second.run_id.split("-")[1:]
