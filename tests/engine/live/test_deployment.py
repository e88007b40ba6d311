"""The deployment file: it survives TOML exactly, a change is a new version that leaves the old file byte-identical,
the runner's loader refuses a strategy whose source changed since promotion, and no key ever reaches the file."""

from __future__ import annotations

import hashlib
import math
import tomllib
from pathlib import Path

import pytest

from engine.live import (ApiRestrictions, DataDigest, Deployment, DeploymentError, GateResult, GateThresholds,
                         NEVER_RUN, Overrides, Venue, default_name, deployment_file, deployment_state,
                         deployment_versions, find_keys, key_names, load_deployment, read_api_restrictions,
                         read_deployment, read_paper_evidence, save_deployment)
from engine.spec import MarketSpec, RunSpec, StrategySpec
from tests.fakes import FakeBinance

SOURCE = "from engine.strategy.builtins.sma_cross import GRID, Params, signals\n"


def a_deployment(strategy_file: Path, **changes) -> Deployment:
    sha = hashlib.sha256(strategy_file.read_bytes()).hexdigest()
    spec = RunSpec(strategy=StrategySpec(name="mine", ref=str(strategy_file), path=str(strategy_file), sha256=sha),
                   params={"fast": 10, "slow": 30}, market=MarketSpec(symbol="BTC/USDT", start="2024-01-01"))
    gates = [GateResult.compare("DSR", 0.97, ">=", 0.95, "the stitched out-of-sample daily returns, 4 trials"),
             GateResult(name="longest gap", passed=True, figure="4h", threshold="1d", rule="<="),
             GateResult.compare("PBO", 0.62, "<=", 0.5).model_copy(update={"waived_by": "--force"})]
    fields = dict(name="mine-BTC-USDT-1h", version=1, created="2026-01-02T03:04:05+00:00",
                  venue=Venue(kind="paper", exchange="binance"), spec=spec, thresholds=GateThresholds(min_dsr=0.9),
                  gates=gates, runs=["20260101T000000Z-mine-abcdef0"],
                  data=DataDigest(series="binance BTC/USDT 1h", start_ms=1_704_067_200_000, rows=5980, sha256="a" * 64),
                  overrides=Overrides(force=True), git_commit="0123abc", gauntlet_version="0.1.0")
    return Deployment(**(fields | changes))


@pytest.fixture
def strategy_file(tmp_path) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(SOURCE)
    return path


def test_a_deployment_survives_toml_exactly(tmp_path, strategy_file):
    draft = a_deployment(strategy_file)
    saved, path = save_deployment(tmp_path / "deployments", draft)
    assert path == tmp_path / "deployments" / "mine-BTC-USDT-1h.toml" and saved == draft  # version 1
    again = load_deployment(path)
    assert again == draft and again.to_toml() == path.read_text()
    raw = tomllib.loads(path.read_text())
    assert raw["gates"][0] == {"name": "DSR", "passed": True, "figure": 0.97, "threshold": 0.95, "rule": ">=",
                               "detail": "the stitched out-of-sample daily returns, 4 trials"}
    assert raw["gates"][2]["passed"] is False and raw["gates"][2]["waived_by"] == "--force"
    assert raw["thresholds"]["min_dsr"] == 0.9 and raw["thresholds"]["max_pbo"] == 0.5
    assert raw["overrides"] == {"force": True, "allow_unrestricted_ip": False}
    assert "end_ms" not in raw["data"] and again.data.end_ms is None  # None is left out on disk, None again


def test_a_change_is_a_new_version_and_the_old_file_stays_byte_identical(tmp_path, strategy_file):
    root = tmp_path / "deployments"
    _, first = save_deployment(root, a_deployment(strategy_file))
    before = first.read_bytes()
    saved, second = save_deployment(root, a_deployment(strategy_file, venue=Venue(kind="live", exchange="binance")))
    _, third = save_deployment(root, a_deployment(strategy_file))
    assert (saved.version, second.name, third.name) == (2, "mine-BTC-USDT-1h.v2.toml", "mine-BTC-USDT-1h.v3.toml")
    assert first.read_bytes() == before
    assert deployment_versions(root) == {"mine-BTC-USDT-1h": [(1, first), (2, second), (3, third)]}
    assert read_deployment(second).venue.kind == "live" and read_deployment(second).version == 2
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temp file left behind


def test_the_runner_refuses_a_strategy_source_changed_since_promotion(tmp_path, strategy_file):
    draft = a_deployment(strategy_file)
    _, path = save_deployment(tmp_path, draft)
    strategy_file.write_text(SOURCE + "# tampered\n")
    now = hashlib.sha256(strategy_file.read_bytes()).hexdigest()
    with pytest.raises(DeploymentError) as refused:
        load_deployment(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: the strategy source {strategy_file} changed since mine-BTC-USDT-1h v1")
    assert f"sha256 {draft.spec.strategy.sha256} recorded, {now} now" in message
    assert read_deployment(path) == draft  # the file itself is fine: only what would run changed
    strategy_file.unlink()
    with pytest.raises(DeploymentError, match="cannot be read"):
        load_deployment(path)


def test_invalid_or_renamed_files_are_refused_naming_them(tmp_path, strategy_file):
    _, path = save_deployment(tmp_path, a_deployment(strategy_file))
    copy = tmp_path / "other.toml"
    copy.write_bytes(path.read_bytes())
    with pytest.raises(DeploymentError, match=rf"{copy}: holds mine-BTC-USDT-1h v1, which belongs in mine-BTC-USDT-1h.toml"):
        read_deployment(copy)
    path.write_text(path.read_text().replace('kind = "paper"', 'kind = "moon"'))
    with pytest.raises(DeploymentError, match=rf"{path}: invalid deployment: venue.kind"):
        read_deployment(path)
    with pytest.raises(ValueError, match="deployment name '../x'"):
        deployment_file(tmp_path, "../x", 1)


def test_default_names_are_file_safe():
    def spec(symbol: str) -> RunSpec:
        return RunSpec(strategy=StrategySpec(name="sma_cross", ref="sma_cross"), market=MarketSpec(symbol=symbol))

    assert default_name(spec("BTC/USDT")) == "sma_cross-BTC-USDT-1h"
    assert default_name(spec("BTC/USDT:USDT")) == "sma_cross-BTC-USDT_USDT-1h"


def test_a_gate_states_its_figure_against_its_threshold():
    assert GateResult.compare("PBO", 0.62, "<=", 0.5).text() == "PBO 0.62 > 0.5"
    assert GateResult.compare("DSR", 0.97, ">=", 0.95).text() == "DSR 0.97 >= 0.95"
    missing = GateResult.compare("DSR", math.nan, ">=", 0.95, "needs two or more trials that differ")
    assert not missing.passed and missing.figure is None and missing.text() == "DSR n/a (needs two or more trials that differ)"
    with pytest.raises(ValueError, match="unknown timeframe '2 days'"):
        GateThresholds(max_gap="2 days")
    assert GateThresholds(max_gap="6h").max_gap_ms == 6 * 3_600_000


def test_keys_come_from_the_environment_first_then_a_dot_env(tmp_path, monkeypatch):
    for name in (*key_names("default"), *key_names("main")):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    assert key_names("main") == ("GAUNTLET_MAIN_API_KEY", "GAUNTLET_MAIN_API_SECRET")
    assert find_keys("default", env_file) is None
    env_file.write_text("GAUNTLET_API_KEY=file-key\nGAUNTLET_API_SECRET=file-secret\n")
    found = find_keys("default", env_file)
    assert found.source == ".env" and found.ccxt_config() == {"apiKey": "file-key", "secret": "file-secret"}
    assert "file-secret" not in repr(found)  # secrets print as stars
    monkeypatch.setenv("GAUNTLET_API_KEY", "env-key")
    monkeypatch.setenv("GAUNTLET_API_SECRET", "env-secret")
    assert find_keys("default", env_file).source == "environment"
    assert find_keys("main", env_file) is None


def test_a_key_restrictions_are_read_from_the_exchange():
    assert read_api_restrictions(FakeBinance()) == ApiRestrictions(withdrawals_enabled=False, ip_restricted=True)
    assert read_api_restrictions(FakeBinance(answer={"ipRestrict": "false", "enableWithdrawals": "true"})) == \
        ApiRestrictions(withdrawals_enabled=True, ip_restricted=False)
    with pytest.raises(LookupError, match="no true/false enableWithdrawals"):
        read_api_restrictions(FakeBinance(answer={"ipRestrict": True}))
    with pytest.raises(LookupError, match="does not report a key's restrictions"):
        read_api_restrictions(object())


def test_without_a_journal_a_deployment_has_never_run(tmp_path):
    assert deployment_state("mine-BTC-USDT-1h", tmp_path) == NEVER_RUN and NEVER_RUN.state == "never run"
    assert read_paper_evidence("mine-BTC-USDT-1h", tmp_path) is None
