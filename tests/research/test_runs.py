"""Run records: a source that changes during a run is refused, and `runs list` survives a damaged record."""

from __future__ import annotations

import hashlib

import pytest
from typer.testing import CliRunner

from research.cli import app
from research.runs import RunFolder
from research.views import SweepView


def test_a_strategy_source_changed_during_the_run_publishes_nothing(tmp_path):
    source = tmp_path / "mine.py"
    source.write_text("A = 1\n")
    strategy = {"name": "mine", "ref": str(source), "path": str(source),
                "sha256": hashlib.sha256(b"A = 1\n").hexdigest()}
    source.write_text("A = 2\n")
    with pytest.raises(RuntimeError, match=f"{source} changed while the run was going"):
        with RunFolder("20240101T000000Z-mine-abcdef0", tmp_path / "reports") as folder:
            folder.complete({"kind": "replay", "strategy": strategy})
    assert list((tmp_path / "reports").iterdir()) == []


def test_runs_list_shows_a_damaged_record_among_good_ones(env_cache):
    reports = env_cache / "reports"
    good = CliRunner().invoke(app, ["replay", "sma_cross", "--param", "fast=10", "--param", "slow=30", "--symbol",
                                    "BTC/USDT"])
    assert good.exit_code == 0, good.output
    damaged = reports / "20200101T000000Z-sma_cross-abcdef0"
    damaged.mkdir()
    (damaged / "run.json").write_text("{")
    listed = CliRunner().invoke(app, ["runs", "list"])
    assert listed.exit_code == 0, listed.output
    assert "2 run(s)" in listed.output and "damaged" in listed.output
    with pytest.raises(ValueError, match="run.json is damaged"):
        SweepView.from_run(damaged)
