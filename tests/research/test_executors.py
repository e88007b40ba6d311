"""The executor seam, in this process: a part of a grid is the same bits as the whole, a parameter set that
always fails is named (never dropped, never stopping the rest), and where a run ran is recorded beside its
config, not in it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.strategy import load_strategy
from research.executors import ExecutorOptions, LocalExecutor, open_executor
from research.splits import SplitSpec
from research.sweep import SweepSpec, score_combos
from research.sweep_run import run_sweep, write_sweep
from research.walkforward import WalkForwardSpec, fold_table, run_walkforward
from tests.conftest import btc_1h_store, shared_candles
from tests.factories import failing_strategy

COSTS = Costs(0.001, 0.0005, 10_000.0)


@pytest.fixture
def cache(tmp_path):
    return btc_1h_store(tmp_path / "data")


EXPANDING = """
from dataclasses import dataclass

import numpy as np

from engine.strategy.signals import Signals


@dataclass(frozen=True, slots=True)
class Params:
    window: int = 10

    @property
    def warmup(self) -> int:
        return self.window + 1


GRID = {"window": [5, 20, 50, 120, 400]}


def signals(bars, p):  # above the mean of every bar shown: like a long-memory average, it depends on the first
    mean = np.cumsum(bars.close) / np.arange(1, len(bars) + 1)
    return Signals.from_target((bars.close > mean) & (np.arange(len(bars)) >= p.window))
"""
GRIDS = {"ema_cross": {"fast": [5, 12, 20], "slow": [26, 50, 120]},
         "rsi_reversion": {"window": [8, 14, 30], "lower": [25.0, 30.0], "upper": [70.0]}}


@pytest.mark.parametrize("name, engine", [("ema_cross", "auto"), ("rsi_reversion", "vectorbt"), ("expanding", "vectorbt")])
def test_a_part_of_a_grid_scored_with_the_grids_warmup_is_the_same_bits_as_in_the_whole(name, engine, tmp_path):
    if name == "expanding":
        (tmp_path / "expanding.py").write_text(EXPANDING)
        name = str(tmp_path / "expanding.py")
    bars = Bars.from_frame(shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"))
    strategy = load_strategy(name)
    combos = list(strategy.grid_params(GRIDS.get(name)))
    warmup, window = max(p.warmup for p in combos), (2_000, 4_500)  # in-sample of a fold: history before it warms
    whole = score_combos(strategy, bars, combos, COSTS, "1h", engine, window=window, workers=1)
    for lo in range(0, len(combos), 4):  # parts of 4, and a last part of one or two
        part = score_combos(strategy, bars, combos[lo: lo + 4], COSTS, "1h", engine, window=window, workers=1,
                            warmup=warmup)
        assert np.array_equal(part.metrics, whole.metrics[lo: lo + 4], equal_nan=True)
        assert np.array_equal(part.daily_values, whole.daily_values[:, lo: lo + 4])
    if name.endswith("expanding.py"):  # with its own warm-up, a part's history would begin on another bar
        alone = score_combos(strategy, bars, combos[:1], COSTS, "1h", engine, window=window, workers=1)
        assert not np.array_equal(alone.daily_values[:, 0], whole.daily_values[:, 0])


def test_a_parameter_set_that_always_fails_is_named_and_the_others_are_scored(cache, tmp_path):
    path = failing_strategy(tmp_path, always=13)
    spec = SweepSpec(str(path), "binance", ("BTC/USDT",), "1h", costs=COSTS, engine="vectorbt")
    outcome = run_sweep(spec, store=cache, executor=LocalExecutor(1))
    assert [(f["symbol"], f["params"], f["in"]) for f in outcome.failed] == [("BTC/USDT", {"window": 13}, ["sweep"])]
    assert outcome.failed[0]["error"].startswith("StrategyError: failing Params(window=13): signals() raised "
                                                 "ValueError: window 13 always fails")
    without = SweepSpec(str(path), "binance", ("BTC/USDT",), "1h", params=("window=5,8,17,21,30",), costs=COSTS,
                        engine="vectorbt")
    others = run_sweep(without, store=cache, executor=LocalExecutor(1))
    assert others.failed == []
    pd.testing.assert_frame_equal(outcome.results, others.results, check_exact=True)
    assert sorted(outcome.results["window"]) == [5, 8, 17, 21, 30]
    record = json.loads((write_sweep(outcome, ["test"], tmp_path / "reports") / "run.json").read_text())
    assert record["failed"] == json.loads(json.dumps(outcome.failed))
    assert record["config"]["combinations"] == 6 and record["executor"] == {"name": "local", "workers": 1}


def test_a_walkforward_never_picks_a_failing_parameter_set_and_names_it_in_every_window(cache, tmp_path):
    path = failing_strategy(tmp_path, always=5)
    sweep = SweepSpec(str(path), "binance", ("BTC/USDT",), "1h", costs=COSTS, engine="vectorbt", objective="total_return")
    outcome = run_walkforward(WalkForwardSpec(sweep, SplitSpec(n_folds=3, mode="anchored")), store=cache,
                              executor=LocalExecutor(1))
    assert [(f["params"], f["in"]) for f in outcome.failed] == [
        ({"window": 5}, ["fold 0 in-sample", "fold 1 in-sample", "fold 2 in-sample", "whole period"])]
    table = fold_table(outcome.folds, ["window"])
    assert len(table) == 3 and table["window"].notna().all() and 5 not in set(table["window"])
    assert outcome.summary["BTC/USDT"]["evidence"]["trials"] == 5  # the five that were scored


def test_where_a_run_ran_is_recorded_beside_its_config_and_leaves_its_id_alone(cache, tmp_path):
    spec = SweepSpec("sma_cross", "binance", ("BTC/USDT",), "1h", params=("fast=5:20:5", "slow=30:90:30"), costs=COSTS)
    folders = [write_sweep(run_sweep(spec, store=cache, executor=LocalExecutor(n)), ["test"], tmp_path / "reports")
               for n in (1, 2)]
    records = [json.loads((f / "run.json").read_text()) for f in folders]
    assert [r["executor"] for r in records] == [{"name": "local", "workers": 1}, {"name": "local", "workers": 2}]
    assert folders[0].name.rsplit("-", 1)[1] == folders[1].name.rsplit("-", 1)[1]  # the same config hash
    pd.testing.assert_frame_equal(*(pd.read_parquet(f / "results.parquet") for f in folders), check_exact=True)


@pytest.mark.parametrize("options, message", [
    (ExecutorOptions("ray"), "unknown --executor 'ray': local or dask"),
    (ExecutorOptions("local", "tcp://127.0.0.1:8786"), "--address tcp://127.0.0.1:8786 names a Dask scheduler; add "
                                                       "--executor dask"),
])
def test_executor_options_that_make_no_sense_are_refused(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        with open_executor(options):
            pass


def test_the_command_prints_the_failing_parameter_set_and_records_it(env_cache, tmp_path):
    from typer.testing import CliRunner

    from research.cli import app

    path = failing_strategy(tmp_path, always=21)
    done = CliRunner().invoke(app, ["sweep", str(path), "--symbol", "BTC/USDT", "--engine", "vectorbt"])
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert ("warning: 1 parameter set(s) failed on every try and have no row in the results: BTC/USDT window=21 "
            "(sweep): StrategyError: failing Params(window=21): signals() raised ValueError: window 21 always fails"
            in text)
    folder = env_cache / "reports" / done.output.split("run ", 1)[1].split()[0]
    record = json.loads((folder / "run.json").read_text())
    assert [f["params"] for f in record["failed"]] == [{"window": 21}] and record["executor"]["name"] == "local"
    assert sorted(pd.read_parquet(folder / "results.parquet")["window"]) == [5, 8, 13, 17, 30]
