"""`gauntlet replay --from-run` reproduces a run's complete spec; flags override one field each and say so."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.sim.metrics_nb import METRICS
from research.cli import app
from research.report_index import write_index

FIGURES = METRICS  # every figure the sweep reports


def gauntlet(*args: str):
    return CliRunner().invoke(app, list(args))


def runs(reports: Path) -> list[Path]:
    return sorted(p for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))


def newest(reports: Path, before: list[Path]) -> Path:
    (folder,) = [p for p in runs(reports) if p not in before]
    return folder


def test_from_run_of_a_sweep_equals_the_sweeps_figure_for_its_candidate(env_cache):
    reports = env_cache / "reports"
    swept = gauntlet("sweep", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=5:15:5", "--param",
                     "slow=30:60:30", "--start", "2024-03-01", "--end", "2024-08-15", "--fee-rate", "0.002",
                     "--slippage-rate", "0.001", "--init-cash", "2500")
    assert swept.exit_code == 0, swept.output
    (sweep,) = runs(reports)
    best = json.loads((sweep / "run.json").read_text())["results"]["evidence"]["BTC/USDT"]["best"]
    table = pd.read_parquet(sweep / "results.parquet")
    row = table[(table["fast"] == best["fast"]) & (table["slow"] == best["slow"])].iloc[0]
    replayed = gauntlet("replay", "--from-run", sweep.name)
    assert replayed.exit_code == 0, replayed.output
    assert "overrides" not in replayed.output
    replay = newest(reports, [sweep])
    metrics = json.loads((replay / "metrics.json").read_text())
    for name in FIGURES:
        assert metrics[name] == pytest.approx(row[name], rel=1e-9, abs=1e-12), name
    spec = json.loads((replay / "run.json").read_text())["spec"]
    assert spec["market"] | spec["costs"] == {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h",
                                              "start": "2024-03-01", "end": "2024-08-15", "fee_rate": 0.002,
                                              "slippage_rate": 0.001, "init_cash": 2500.0, "maker_fee_rate": None}

    # a run written before runs recorded their specs: rebuilt from its config, the same figures
    record = json.loads((sweep / "run.json").read_text())
    legacy = {k: v for k, v in record.items() if k not in ("strategy", "candidates")}
    (sweep / "run.json").write_text(json.dumps(legacy))
    rebuilt = gauntlet("replay", "--from-run", sweep.name)
    assert rebuilt.exit_code == 0 and "predates recorded specs" in rebuilt.output, rebuilt.output
    legacy_run = newest(reports, [sweep, replay])
    (sweep / "run.json").write_text(json.dumps(record))
    assert json.loads((legacy_run / "metrics.json").read_text()) == metrics

    # one flag overrides one field, and the replay says which
    overridden = gauntlet("replay", "--from-run", sweep.name, "--fee-rate", "0.001", "--no-ideal")
    assert overridden.exit_code == 0, overridden.output
    assert "costs.fee_rate 0.002 -> 0.001" in overridden.output and "risk.enabled False -> True" in overridden.output
    assert "market.start" not in overridden.output
    spec = json.loads((newest(reports, [sweep, replay, legacy_run]) / "run.json").read_text())["spec"]
    assert spec["costs"]["fee_rate"] == 0.001 and spec["market"]["start"] == "2024-03-01"
    assert spec["realism"]["exchange_rules"] and spec["risk"]["enabled"]


def test_from_run_of_a_replay_reproduces_it(env_cache):
    reports = env_cache / "reports"
    first = gauntlet("replay", "donchian_breakout", "--params", "entry_window=20,exit_window=10,short=true",
                     "--symbol", "BTC/USDT", "--start", "2024-02-01", "--fee-rate", "0.0015", "--latency-bars", "1",
                     "--sizing", "fixed_fraction", "--fraction", "0.5", "--max-drawdown-rate", "0.3")
    assert first.exit_code == 0, first.output
    (original,) = runs(reports)
    again = gauntlet("replay", "--from-run", original.name)
    assert again.exit_code == 0, again.output
    copy = newest(reports, [original])
    assert json.loads((copy / "metrics.json").read_text()) == json.loads((original / "metrics.json").read_text())
    assert (copy / "spec.toml").read_text() == (original / "spec.toml").read_text()
    assert pd.read_parquet(copy / "fills.parquet").equals(pd.read_parquet(original / "fills.parquet"))


def test_a_walkforward_candidate_is_replayed_over_its_out_of_sample_windows(env_cache):
    reports = env_cache / "reports"
    walked = gauntlet("walkforward", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=5:15:5", "--param",
                      "slow=30:60:30", "--folds", "3", "--is-size", "60D", "--oos-size", "30D", "--start", "2024-02-01")
    assert walked.exit_code == 0, walked.output
    (walk,) = runs(reports)
    record = json.loads((walk / "run.json").read_text())
    windows = record["oos_windows"]["BTC/USDT"]
    plan = pd.read_csv(walk / "plan.csv")
    assert len(windows) == 3 == len(plan)
    oos = gauntlet("replay", "--from-run", walk.name)
    assert oos.exit_code == 0, oos.output
    assert f"out-of-sample windows of folds 1-3, {windows[0][0]} -> {windows[-1][1]}" in oos.output
    first = newest(reports, [walk])
    market = json.loads((first / "run.json").read_text())["spec"]["market"]
    assert (market["start"], market["end"]) == (windows[0][0], windows[-1][1])
    equity = pd.read_parquet(first / "equity.parquet")["timestamp"]
    assert equity.iloc[0] == pd.Timestamp(windows[0][0]) and equity.iloc[-1] < pd.Timestamp(windows[-1][1])
    whole = gauntlet("replay", "--from-run", walk.name, "--window", "all")
    assert whole.exit_code == 0, whole.output
    market = json.loads((newest(reports, [walk, first]) / "run.json").read_text())["spec"]["market"]
    assert (market["start"], market["end"]) == ("2024-02-01", None)


def test_a_changed_strategy_source_is_named_and_the_recorded_copy_replays(env_cache):
    reports, mine = env_cache / "reports", env_cache / "my_cross.py"
    source = (Path(__file__).resolve().parents[2] / "engine" / "strategy" / "builtins" / "sma_cross.py").read_text()
    mine.write_text(source)
    first = gauntlet("replay", str(mine), "--params", "fast=10,slow=30", "--symbol", "BTC/USDT")
    assert first.exit_code == 0, first.output
    (original,) = runs(reports)
    record = json.loads((original / "run.json").read_text())
    assert record["strategy"]["path"] == str(mine.resolve())
    assert (original / "source" / "my_cross.py").read_text() == source
    mine.write_text(source.replace("crossed_above_nb(fast, slow), exits=crossed_above_nb(slow, fast)",
                                   "crossed_above_nb(slow, fast), exits=crossed_above_nb(fast, slow)"))
    changed = gauntlet("replay", "--from-run", original.name)
    assert changed.exit_code == 0, changed.output
    assert f"warning: {mine.resolve()} changed since run {original.name}" in changed.output.replace("\n", "")
    edited = newest(reports, [original])
    recorded = gauntlet("replay", "--from-run", original.name, "--use-recorded-source")
    assert recorded.exit_code == 0, recorded.output
    again = newest(reports, [original, edited])
    metrics = [json.loads((folder / "metrics.json").read_text()) for folder in (original, edited, again)]
    assert metrics[2] == metrics[0] != metrics[1]


@pytest.mark.parametrize("run_id", ["../reports", "..", "20240101T000000Z-x-abc/../../etc", "a/b"])
def test_run_ids_that_are_not_run_ids_are_refused(env_cache, run_id):
    result = gauntlet("replay", "--from-run", run_id)
    assert result.exit_code == 1 and f"{run_id!r} is not a run id" in result.output


@pytest.mark.parametrize("damage", ["{\"kind\": \"sweep\", \"run_", "[]", "{\"kind\": \"sweep\"}", "\xff\xfe"])
def test_a_damaged_run_json_is_one_line_naming_the_file(env_cache, damage):
    folder = env_cache / "reports" / "20240101T000000Z-sma_cross-abcdef0"
    folder.mkdir(parents=True)
    (folder / "run.json").write_bytes(damage.encode("latin-1"))
    result = gauntlet("replay", "--from-run", folder.name)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.replace("\n", "").startswith(f"error: {folder / 'run.json'} is damaged: ")
    assert "damaged" in write_index(env_cache / "reports").read_text()  # the index shows it, and still works


def test_a_spec_file_replays_what_it_says(env_cache, tmp_path):
    reports, saved = env_cache / "reports", tmp_path / "spec.toml"
    first = gauntlet("replay", "sma_cross", "--params", "fast=10,slow=30", "--symbol", "BTC/USDT", "--start",
                     "2024-04-01", "--fee-rate", "0.0025", "--no-partial-fills", "--save-config", str(saved))
    assert first.exit_code == 0, first.output
    (original,) = runs(reports)
    assert saved.read_text() == (original / "spec.toml").read_text()
    again = gauntlet("replay", "--config", str(saved))
    assert again.exit_code == 0, again.output
    copy = newest(reports, [original])
    assert json.loads((copy / "metrics.json").read_text()) == json.loads((original / "metrics.json").read_text())
    cheaper = gauntlet("replay", "--config", str(saved), "--fee-rate", "0.001")
    assert cheaper.exit_code == 0 and f"overrides the spec in {saved}: costs.fee_rate 0.0025 -> 0.001" in \
        cheaper.output.replace("\n", "")
    saved.write_text(saved.read_text().replace("fee_rate = 0.0025", "fee_rate = 2.5"))
    broken = gauntlet("replay", "--config", str(saved))
    assert broken.exit_code == 1 and "fee_rate = 2.5" in saved.read_text()
    assert f"{saved}: invalid spec: costs.fee_rate: " in broken.output.replace("\n", "") and "less than 1" in broken.output
    assert "--fee-rate" not in broken.output  # the file's key is what to fix, not a flag
