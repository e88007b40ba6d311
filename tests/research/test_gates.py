"""The walk-forward verdict: "promote" only when every promotion gate passes; WFE is no ratio over a losing
in-sample; never "promote None"."""

from __future__ import annotations

import json

import pytest

from engine.core.costs import Costs
from research.gates import GATES, verdict
from research.splits import SplitSpec
from research.sweep import SweepSpec
from research.walkforward import WalkForwardSpec, run_walkforward
from research.walkforward_run import write_walkforward
from tests.conftest import btc_1h_store

GOOD = {"candidate": {"fast": 10, "slow": 50}, "stitched_oos": {"sharpe": 1.2},
        "evidence": {"dsr": 0.97, "pbo": 0.2}, "efficiency": {"wfe_return": 0.7}}


def test_promote_only_when_every_gate_passes():
    good = verdict(GOOD)
    assert good.promote and good.text.startswith("candidate fast=10,slow=50: promote, passes every gate")
    assert [g.threshold for g in GATES] == [0.5, 0.95, 0.5, 0.5]
    bad = verdict({**GOOD, "stitched_oos": {"sharpe": -1.5}, "evidence": {"dsr": 0.02, "pbo": 0.2}})
    assert not bad.promote
    assert bad.text == "candidate fast=10,slow=50: do not promote, fails out-of-sample Sharpe \u22121.50 < 0.5, DSR 0.02 < 0.95"
    missing = verdict({**GOOD, "evidence": {"dsr": None, "dsr_note": "needs two or more trials that differ", "pbo": 0.2}})
    assert not missing.promote and "DSR n/a (needs two or more trials that differ)" in missing.text
    nothing = verdict({**GOOD, "candidate": None})
    assert not nothing.promote and "promote" in nothing.text and "None" not in nothing.text
    assert nothing.text.startswith("no candidate")


@pytest.fixture
def cache(tmp_path):
    return btc_1h_store(tmp_path / "data")


def test_a_losing_walkforward_is_not_headlined_promote(cache, tmp_path):
    sweep = SweepSpec("sma_cross", "binance", ("BTC/USDT",), "1h", params=("fast=5:15:5", "slow=20:40:10"),
                      costs=Costs(fee_rate=0.01, slippage_rate=0.001, init_cash=10_000.0))  # 1% fees: every pick loses
    outcome = run_walkforward(WalkForwardSpec(sweep, SplitSpec(n_folds=3, mode="anchored")), store=cache)
    summary = outcome.summary["BTC/USDT"]
    eff = summary["efficiency"]
    assert eff["is_annual_log_return"] < 0 and eff["oos_annual_log_return"] < 0
    assert eff["wfe_return"] is None and "in-sample annual log return" in eff["wfe_note"]
    assert eff["wfe_note"].endswith("are not positive, so the ratio has no meaning")  # return and Sharpe
    record = json.loads((write_walkforward(outcome, ["gauntlet"], tmp_path / "reports") / "run.json").read_text())
    candidate = ",".join(f"{k}={v}" for k, v in summary["candidate"].items())
    assert record["headline"].startswith(f"BTC/USDT candidate {candidate}: do not promote, fails out-of-sample Sharpe \u2212")
    assert "WFE n/a (in-sample annual log return" in record["headline"]
    assert record["results"]["BTC/USDT"]["verdict"]["promote"] is False
