"""Replay against the sweep on real candles, and `gauntlet replay` end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.strategy.contract import load_strategy
from research.cli import app
from research.notebooks import summary_of
from research.parity import check_parity
from tests.conftest import shared_candles

COSTS = Costs(0.001, 0.0005, 10_000.0)


@pytest.mark.parametrize("name, params, file, freq", [
    ("sma_cross", {"fast": 10, "slow": 30}, "binance_BTC-USDT_1m.parquet", "60s"),
    ("ema_cross", {"fast": 12, "slow": 26}, "binance_ETH-USDT_5m.parquet", "300s"),
    ("rsi_reversion", {"window": 14}, "binance_BTC-USDT_1h.parquet", "3600s"),
    ("donchian_breakout", {"entry_window": 20, "exit_window": 10}, "binance_SOL-USDT_5m.parquet", "300s"),
    ("atr_trend", {"window": 50, "atr_mult": 2.0}, "binance_BTC-USDT_1h_2024-01_2024-09.parquet", "3600s"),  # stops
    # shorts, with vectorbt's reversal on an opposite entry (direction='both')
    ("donchian_breakout", {"entry_window": 20, "exit_window": 10, "short": True}, "binance_SOL-USDT_5m.parquet",
     "300s"),
    ("donchian_breakout", {"entry_window": 50, "exit_window": 30, "short": True}, "binance_BTC-USDT_1h.parquet",
     "3600s"),
    ("atr_trend", {"window": 50, "atr_mult": 2.0, "short": True}, "binance_BTC-USDT_1h_2024-01_2024-09.parquet",
     "3600s"),  # short stops above the entry
])
def test_the_ideal_replay_equals_the_sweep_trade_for_trade_on_real_candles(name, params, file, freq):
    bars = Bars.from_frame(shared_candles(file))
    strategy = load_strategy(name)
    report, ideal = check_parity(bars, strategy.signals(bars, strategy.params(params)), COSTS, freq)
    assert report.ok, report.first_difference
    assert report.orders_replay == report.orders_sweep > 20
    if params.get("short"):
        trips = ideal.ledger.round_trips
        assert sum(trip.direction < 0 for trip in trips) > 10 and sum(trip.direction > 0 for trip in trips) > 10
    assert report.final_equity_replay == pytest.approx(report.final_equity_sweep, rel=1e-9)


@pytest.mark.parametrize("sl, tp, size", [(0.02, np.nan, None), (np.nan, 0.03, None), (0.02, 0.03, None),
                                         (np.nan, np.nan, 0.5)])
def test_short_stops_targets_and_sizes_equal_the_sweep_on_real_candles(sl, tp, size):
    bars = Bars.from_frame(shared_candles("binance_SOL-USDT_5m.parquet"))
    strategy = load_strategy("donchian_breakout")
    signals = strategy.signals(bars, strategy.params({"entry_window": 20, "exit_window": 10, "short": True}))
    n = len(bars)
    if size is None:
        signals = replace(signals, sl_stop=np.full(n, sl), tp_stop=np.full(n, tp))
    else:  # vectorbt cannot reverse under a percent size: shorts only
        signals = replace(signals, entries=np.zeros(n, bool), exits=np.zeros(n, bool), size=np.full(n, size))
    report, ideal = check_parity(bars, signals, COSTS, "300s")
    assert report.ok, report.first_difference
    assert report.orders_replay > 1000 and any(trip.direction < 0 for trip in ideal.ledger.round_trips)


def gauntlet(*args: str):
    return CliRunner().invoke(app, list(args))


def test_replay_writes_the_books_metrics_tearsheet_and_parity(env_cache):
    result = gauntlet("replay", "sma_cross", "--params", "fast=10,slow=30", "--exchange", "binance", "--symbol", "BTC/USDT",
                      "--timeframe", "1h", "--parity")
    assert result.exit_code == 0, result.output
    assert "parity ok" in result.output and "realistic vs ideal" in result.output
    (folder,) = [p for p in (env_cache / "reports").iterdir() if p.is_dir()]
    for name in ("orders", "fills", "round_trips", "equity"):
        assert len(pd.read_parquet(folder / f"{name}.parquet")) > 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"total_return", "cagr", "sharpe", "sortino", "max_drawdown", "round_trips", "fees_paid"} <= set(metrics)
    assert (folder / "quantstats.html").stat().st_size > 50_000
    record = json.loads((folder / "run.json").read_text())
    assert record["kind"] == "replay" and record["results"]["parity"]["ok"]
    assert record["config"]["params"] == {"fast": 10, "slow": 30}
    differences, steps = record["results"]["differences"], record["results"]["differences"]["attribution"]
    assert [step["step"].split(" (")[0] for step in steps] == ["stop conventions", "exchange rules", "partial fills",
                                                               "borrow interest on shorts", "risk rules and sizing"]
    assert steps[-1]["final_equity"] == pytest.approx(metrics["final_equity"], rel=1e-12)  # rebuilt step by step
    assert sum(step["effect"] for step in steps) == pytest.approx(differences["difference"], rel=1e-9)
    again = gauntlet("replay", "sma_cross", "--params", "fast=10,slow=30", "--symbol", "BTC/USDT",
                     "--notebook")  # binance and 1h, the sweep's defaults; the tearsheet notebook opens its own run
    assert again.exit_code == 0, again.output
    (noted,) = [p for p in (env_cache / "reports").iterdir() if p.is_dir() and p != folder]
    assert summary_of(noted / "tearsheet.ipynb")["metrics"] == pytest.approx(metrics)
    assert (noted / "tearsheet.html").is_file() and (noted / "quantstats.html").is_file()  # neither overwrites the other


def test_replay_takes_the_parameters_a_sweep_chose(env_cache):
    swept = gauntlet("sweep", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=5:15:5", "--param", "slow=30:60:30")
    assert swept.exit_code == 0, swept.output
    run_id = next(p.name for p in (env_cache / "reports").iterdir() if p.is_dir())
    best = json.loads((env_cache / "reports" / run_id / "run.json").read_text())["results"]["evidence"]["BTC/USDT"]["best"]
    replayed = gauntlet("replay", "--from-run", run_id, "--ideal")
    assert replayed.exit_code == 0, replayed.output
    assert f"Params(fast={best['fast']}, slow={best['slow']})" in replayed.output
    assert "overrides the run's spec: realism" not in replayed.output  # --ideal is what the sweep assumed


@pytest.mark.parametrize("args, message", [
    (["sma_cross", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h"], "give the parameters"),
    (["sma_cross", "--params", "fast=10,slow=30", "--exchange", "binance", "--symbol", "DOGE/USDT", "--timeframe", "1h"],
     "binance DOGE/USDT 1h is not in the cache"),
    (["sma_cross", "--params", "fast=ten", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h"],
     "parameter fast of sma_cross is int"),
    (["--from-run", "20990101T000000Z-nope-0000000"], "no run 20990101T000000Z-nope-0000000"),
    (["sma_cross", "--params", "fast=10,slow=30"], "replay needs STRATEGY and --symbol"),
])
def test_bad_replay_input_is_one_line_and_writes_nothing(env_cache, args, message):
    result = gauntlet("replay", *args)
    assert result.exit_code == 1 and message in result.output
    assert not (env_cache / "reports").exists() or not [p for p in (env_cache / "reports").iterdir() if p.is_dir()]
