"""`gauntlet runs list | show | compare`, and reports/index.html after a run folder is deleted."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from research.cli import app


def gauntlet(*args: str):
    return CliRunner().invoke(app, list(args))


def replay_runs(env_cache, fees: tuple[str, ...]) -> list:
    for fee in fees:
        result = gauntlet("replay", "sma_cross", "--params", "fast=10,slow=30", "--symbol", "BTC/USDT", "--fee-rate", fee,
                          "--start", "2024-05-01")
        assert result.exit_code == 0, result.output
    return sorted(p for p in (env_cache / "reports").iterdir() if p.is_dir())


def test_runs_list_show_and_compare(env_cache):
    cheap, dear = replay_runs(env_cache, ("0.001", "0.003"))
    metrics = {p.name: json.loads((p / "metrics.json").read_text()) for p in (cheap, dear)}
    listed = gauntlet("runs", "list", "--strategy", "sma_cross", "--kind", "replay", "--symbol", "BTC/USDT")
    assert listed.exit_code == 0, listed.output
    assert listed.output.index(dear.name) < listed.output.index(cheap.name)  # newest first
    none = gauntlet("runs", "list", "--symbol", "ETH/USDT")
    assert none.exit_code == 0 and "0 run(s)" in none.output and cheap.name not in none.output

    shown = gauntlet("runs", "show", dear.name)
    assert shown.exit_code == 0, shown.output
    assert "fee_rate = 0.003" in shown.output and 'start = "2024-05-01"' in shown.output
    assert f"{metrics[dear.name]['total_return']:.2%}" in shown.output
    assert "source/sma_cross.py" in shown.output and "metrics.json" in shown.output

    compared = gauntlet("runs", "compare", cheap.name, dear.name)
    assert compared.exit_code == 0, compared.output
    row = next(line for line in compared.output.splitlines() if "costs.fee_rate" in line)
    assert "0.001" in row and "0.003" in row
    row = next(line for line in compared.output.splitlines() if "final_equity" in line)
    assert all(f"{metrics[p.name]['final_equity']:.4g}" in row for p in (cheap, dear))


def test_the_index_drops_runs_whose_folder_is_gone(env_cache):
    kept, removed = replay_runs(env_cache, ("0.001", "0.002"))
    index = env_cache / "reports" / "index.html"
    assert removed.name in index.read_text()
    shutil.rmtree(removed)
    assert gauntlet("runs", "list").exit_code == 0
    assert removed.name not in index.read_text() and kept.name in index.read_text()


def test_runs_show_names_bad_ids_and_missing_runs(env_cache):
    assert "'../x' is not a run id" in gauntlet("runs", "show", "../x").output
    missing = gauntlet("runs", "compare", "20240101T000000Z-a-abcdef0", "20240101T000000Z-b-abcdef0")
    assert missing.exit_code == 1 and "no run 20240101T000000Z-a-abcdef0" in missing.output
