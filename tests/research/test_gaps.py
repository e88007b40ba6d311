"""Gaps: every run states the gaps in its window and the fills right after one; `--max-gap` refuses data
whose longest gap is longer, naming the flag and the gap."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.sim.metrics_nb import YEAR_MS
from engine.ohlcv import SeriesKey, Store
from engine.settings import settings
from engine.strategy.contract import load_strategy
from research.cli import app
from research.gaps import gap_summary, parse_max_gap
from research.splits import SplitSpec
from research.sweep import SweepSpec
from research.sweep_run import run_sweep, write_sweep
from research.vbt_adapter import portfolio
from research.walkforward import WalkForwardSpec, run_walkforward
from tests.conftest import shared_candles

GAPPY = "binance_BTC-USDT_1h_2020-12_2021-07.parquet"  # 11 missing hours in 6 gaps, the longest 3h
COSTS = Costs(fee_rate=0.001, slippage_rate=0.0005, init_cash=10_000.0)


@pytest.fixture
def gappy_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNTLET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAUNTLET_REPORTS_DIR", str(tmp_path / "reports"))
    settings.cache_clear()
    store = Store()
    store.write(SeriesKey("binance", "BTC/USDT", "1h"), shared_candles(GAPPY), source={"kind": "test"},
                obtained_ms=4_102_444_800_000)
    yield store
    settings.cache_clear()


def test_gap_summary_counts_the_missing_bars_and_the_longest_gap():
    gaps = gap_summary(Bars.from_frame(shared_candles("binance_BTC-USDT_5m.parquet")), "5m")
    assert (gaps.gaps, gaps.missing_bars, gaps.longest_bars) == (6, 177, 56)
    assert gaps.record()["longest_gap"] == "4h 40min" and gaps.record()["longest_gap_from"] == "2021-04-25 04:05 UTC"
    assert gap_summary(Bars.from_frame(shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet")), "1h").gaps == 0


def test_max_gap_reads_durations_and_refuses_nonsense():
    assert parse_max_gap("2h") == 7_200_000 and parse_max_gap("90min") == 5_400_000 and parse_max_gap("1d") == 86_400_000
    for bad in ("2", "soon", "-1h"):
        with pytest.raises(ValueError, match="--max-gap"):
            parse_max_gap(bad)


def test_sweep_states_gaps_and_the_candidates_fills_after_a_gap(gappy_cache, tmp_path):
    spec = SweepSpec("sma_cross", "binance", ("BTC/USDT",), "1h", params=("fast=3:7:2", "slow=8:16:4"), costs=COSTS)
    outcome = run_sweep(spec, store=gappy_cache)
    found = outcome.evidence["BTC/USDT"]
    bars = Bars.from_frame(shared_candles(GAPPY))
    strategy = load_strategy("sma_cross")
    orders = portfolio(bars, [strategy.signals(bars, strategy.params(found["best"]))], COSTS, "3600s").orders.records_arr
    after = np.isin(orders["idx"], [495, 575, 1728, 2277, 3356, 3477])  # the first bar after each gap
    assert found["gaps"]["fills_after_gap"] == int(after.sum()) > 0
    record = json.loads((write_sweep(outcome, ["gauntlet"], tmp_path / "reports") / "run.json").read_text())
    assert record["results"]["evidence"]["BTC/USDT"]["gaps"] | {"first_fills_after_gap": None} == {
        "gaps": 6, "missing_bars": 11, "longest_gap": "3h", "longest_gap_bars": 3,
        "longest_gap_from": "2020-12-21 15:00 UTC", "fills_after_gap": int(after.sum()), "first_fills_after_gap": None}


def test_walkforward_states_gaps_and_max_gap_refuses(gappy_cache):
    sweep = SweepSpec("sma_cross", "binance", ("BTC/USDT",), "1h", params=("fast=3:7:2", "slow=8:16:4"), costs=COSTS)
    outcome = run_walkforward(WalkForwardSpec(sweep, SplitSpec(n_folds=3, mode="anchored")), store=gappy_cache)
    gaps = outcome.summary["BTC/USDT"]["gaps"]
    assert (gaps["gaps"], gaps["missing_bars"], gaps["longest_gap"]) == (6, 11, "3h")
    assert (gaps["fills_after_gap"], gaps["first_fills_after_gap"]) == (1, ["2021-04-25 08:00 UTC"])  # fast=7,slow=16 OOS
    strict = WalkForwardSpec(replace(sweep, max_gap="2h"), SplitSpec(n_folds=3, mode="anchored"))
    with pytest.raises(ValueError, match=r"longest gap is 3h .*longer than --max-gap 2h"):
        run_walkforward(strict, store=gappy_cache)


def test_cli_max_gap_is_one_clear_error(gappy_cache):
    result = CliRunner().invoke(app, ["sweep", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=3,5",
                                      "--param", "slow=8,12", "--max-gap", "2h"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "longer than --max-gap 2h" in result.output and "2020-12-21 15:00 UTC" in result.output
    ok = CliRunner().invoke(app, ["sweep", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=3,5",
                                  "--param", "slow=8,12", "--max-gap", "3h"])
    assert ok.exit_code == 0, ok.output
    assert "6 gap(s) in the window, 11 missing bars, the longest 3h" in ok.output


def test_replay_states_gaps_and_its_fills_after_a_gap(gappy_cache, tmp_path):
    result = CliRunner().invoke(app, ["replay", "sma_cross", "--params", "fast=5,slow=8", "--symbol", "BTC/USDT",
                                      "--ideal"])
    assert result.exit_code == 0, result.output
    folder = next(p for p in (tmp_path / "reports").iterdir() if p.is_dir() and not p.name.startswith("."))
    record = json.loads((folder / "run.json").read_text())
    fills = pd.read_parquet(folder / "fills.parquet")
    after = int(fills["bar"].isin([495, 575, 1728, 2277, 3356, 3477]).sum())
    assert record["gaps"]["fills_after_gap"] == after > 0 and record["gaps"]["missing_bars"] == 11
    assert "6 gap(s) in the window" in record["headline"]
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "<td>6 (11 missing bars, the longest 3h)</td>" in index  # the report states them too
    metrics = json.loads((folder / "metrics.json").read_text())
    equity = pd.read_parquet(folder / "equity.parquet")
    ts = pd.DatetimeIndex(equity["timestamp"]).as_unit("ms").asi8
    years = (int(ts[-1]) - int(ts[0]) + 3_600_000) / YEAR_MS  # calendar time, the 11 missing hours included
    assert metrics["cagr"] == pytest.approx((equity["equity"].iloc[-1] / 10_000.0) ** (1 / years) - 1, rel=1e-9)
    assert "6 gap(s) in the window, 11 missing bars, the longest 3h" in " ".join(result.output.split())
    refused = CliRunner().invoke(app, ["replay", "sma_cross", "--params", "fast=5,slow=8", "--symbol", "BTC/USDT",
                                       "--max-gap", "90min"])
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "the longest gap is 3h (3 missing 1h bars from 2020-12-21 15:00 UTC), longer than --max-gap 90min" in \
        " ".join(refused.output.split())
