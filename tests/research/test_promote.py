"""`gauntlet promote` and `gauntlet deployments` on real candles (BTC/USDT 1h, 2020-06 -> 2024-04, with its real
gaps): a walk-forward that earns it becomes a paper deployment whose file round-trips; a sweep, a losing
walk-forward, changed data and an unprepared live promotion are refused with every reason, figure and threshold."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.core.costs import Costs
from engine.live import (Deployment, GateThresholds, PaperEvidence, deployment_versions, load_deployment,
                         read_deployment)
from engine.ohlcv import SeriesKey, Store
from engine.settings import settings
from engine.spec import LimitsSpec, RiskSpec
from research.cli import app
from research.live_gates import LiveSeams
from research.promote import Places, PromoteRequest, Promotion, promote
from research.splits import SplitSpec
from research.sweep import SweepSpec
from research.sweep_run import run_sweep, write_sweep
from research.walkforward import WalkForwardSpec, run_walkforward
from research.walkforward_run import write_walkforward
from tests.conftest import shared_candles
from tests.fakes import FakeBinance

GRID = ("fast=50,100", "slow=600,800")
NAME = "sma_cross-BTC-USDT-1h"
KEY, SECRET = "k3y-6f1d0c-never-in-a-file", "s3cret-9a7e2b-never-in-a-file"
OOS_GATES = ["out-of-sample Sharpe", "out-of-sample max drawdown rate", "out-of-sample round trips", "WFE"]
PAPER_GATES = ["paper days run", "paper fills", "paper drift: unexplained differences", "paper drift rate"]
runner = CliRunner()


@dataclass(frozen=True)
class Lab:
    data: Path
    reports: Path
    good: str  # a walk-forward that passes every gate
    swept: str  # a sweep of the same grid: no out-of-sample figures
    losing: str  # faster crossings at 1% fees: the fees eat them

    def places(self, tmp_path: Path, store: Store | None = None) -> Places:
        return Places(store or Store(self.data), self.reports, tmp_path / "deployments", tmp_path / ".env")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    root = tmp_path_factory.mktemp("promote")
    store = Store(root / "data")
    store.write(SeriesKey("binance", "BTC/USDT", "1h"), shared_candles("binance_BTC-USDT_1h.parquet"),
                source={"kind": "test"}, obtained_ms=4_102_444_800_000)

    def walkforward(grid: tuple[str, ...], fee_rate: float) -> str:
        sweep = SweepSpec("sma_cross", "binance", ("BTC/USDT",), "1h", start="2020-06-01", params=grid,
                          costs=Costs(fee_rate, 0.0005, 10_000.0))
        splits = SplitSpec(n_folds=3, is_size="120D", oos_size="120D", purge=12)
        return write_walkforward(run_walkforward(WalkForwardSpec(sweep, splits), store=store), ["test"], root / "reports").name

    sweep = SweepSpec("sma_cross", "binance", ("BTC/USDT",), "1h", start="2020-06-01", params=GRID)
    swept = write_sweep(run_sweep(sweep, store=store), ["test"], root / "reports").name
    return Lab(root / "data", root / "reports", walkforward(GRID, 0.001), swept,
               walkforward(("fast=10,20", "slow=50,100"), 0.01))


@pytest.fixture
def cli(lab, tmp_path, monkeypatch):
    """The CLI's folders: the lab's cache and runs, a fresh deployments/ and working directory, no keys."""
    for name, folder in (("DATA", lab.data), ("REPORTS", lab.reports), ("DEPLOYMENTS", tmp_path / "deployments")):
        monkeypatch.setenv(f"GAUNTLET_{name}_DIR", str(folder))
    for name in ("GAUNTLET_API_KEY", "GAUNTLET_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings.cache_clear()
    yield tmp_path / "deployments"
    settings.cache_clear()


def gauntlet(*args: str):
    return runner.invoke(app, list(args))


def by_name(outcome: Promotion | Deployment) -> dict:
    return {g.name: g for g in outcome.gates}


def test_a_walkforward_that_earns_it_becomes_a_paper_deployment_that_round_trips(lab, cli):
    done = gauntlet("promote", lab.good, "--to", "paper")
    assert done.exit_code == 0, done.output
    path = cli / f"{NAME}.toml"
    assert f"promoted: {NAME} v1 (paper) -> {path}" in done.output and "Traceback" not in done.output
    deployment = load_deployment(path)
    assert deployment.to_toml() == path.read_text() and Deployment.model_validate(deployment.model_dump()) == deployment
    gates = by_name(deployment)
    assert all(g.passed and g.waived_by is None for g in deployment.gates) and len(gates) == 12
    expected = {  # figure, rule, threshold: the run's own figures against the documented defaults
        "out-of-sample Sharpe": (2.0545, ">=", 0.5), "out-of-sample max drawdown rate": (0.20964, "<=", 0.3),
        "out-of-sample round trips": (12, ">=", 10), "WFE": (0.89369, ">=", 0.5), "DSR": (0.95602, ">=", 0.95),
        "PBO": (0.10140, "<=", 0.5), "missing candles rate": (23 / 34_095, "<=", 0.01),
        "causality and warm-up violations": (0, "<=", 0), "replay-sweep parity (final equity, relative)": (0.0, "<=", 1e-9)}
    for name, (figure, rule, threshold) in expected.items():
        assert (gates[name].figure, gates[name].rule, gates[name].threshold) == (pytest.approx(figure, abs=5e-5), rule,
                                                                                 threshold), name
    assert (gates["longest gap"].figure, gates["longest gap"].threshold) == ("4h", "1d")
    assert "64 orders identical" in gates["replay-sweep parity (final equity, relative)"].detail
    record = __import__("json").loads((lab.reports / lab.good / "run.json").read_text())
    summary = record["results"]["BTC/USDT"]
    assert gates["out-of-sample Sharpe"].figure == summary["stitched_oos"]["sharpe"]
    assert gates["DSR"].figure == summary["evidence"]["dsr"] and gates["PBO"].figure == summary["evidence"]["pbo"]
    assert deployment.data.sha256 == record["data"][0]["sha256"] and deployment.runs == [lab.good]
    assert deployment.spec.params == {"fast": 100, "slow": 800} == summary["candidate"]
    assert deployment.spec.strategy.sha256 == record["strategy"]["sha256"]
    assert deployment.thresholds == GateThresholds() and deployment.overrides.force is False
    assert (deployment.venue.kind, deployment.venue.exchange, deployment.venue.account) == ("paper", "binance", "default")
    assert deployment.spec.realism.partial_fills and deployment.spec.risk.enabled  # paper trades realistically
    assert deployment.gauntlet_version == "0.1.0" and deployment.git_commit and deployment.version == 1
    listed = gauntlet("deployments")
    assert listed.exit_code == 0 and NAME in listed.output and "never run" in listed.output
    assert "paper" in listed.output and "binance BTC/USDT 1h" in listed.output


def test_a_plain_sweep_fails_the_out_of_sample_gates_and_says_what_to_run(lab, cli):
    done = gauntlet("promote", lab.swept, "--to", "paper")
    assert done.exit_code == 1 and "Traceback" not in done.output
    command = ("gauntlet walkforward sma_cross --symbol BTC/USDT --exchange binance --timeframe 1h --start 2020-06-01 "
               "--param fast=50,100 --param slow=600,800 --folds 4 --mode anchored")
    for name in OOS_GATES:
        assert f"  x {name} n/a (a sweep has no out-of-sample figures; run `{command}` and promote its run" in done.output
    assert "refused: 4 of 12 gates failed; nothing was written" in done.output and not cli.exists()
    outcome = promote(PromoteRequest(lab.swept, "paper"), lab.places(cli.parent))
    failed = {g.name: (g.figure, g.rule, g.threshold) for g in outcome.failures}
    assert failed == {"out-of-sample Sharpe": (None, ">=", 0.5), "out-of-sample max drawdown rate": (None, "<=", 0.3),
                      "out-of-sample round trips": (None, ">=", 10), "WFE": (None, ">=", 0.5)}
    dsr = by_name(outcome)["DSR"]  # the sweep's own (in-sample) evidence still counts
    assert dsr.passed and dsr.figure == pytest.approx(0.99239, abs=5e-5) and dsr.threshold == 0.95
    assert dsr.detail == "the candidate's daily returns (in sample: a sweep), 4 trials"
    walked = gauntlet(*shlex.split(command)[1:])  # the command said is one that runs
    assert walked.exit_code == 0, walked.output


def test_a_losing_walkforward_is_refused_with_every_reason_and_its_figures(lab, cli):
    outcome = promote(PromoteRequest(lab.losing, "paper"), lab.places(cli.parent))
    assert outcome.deployment is None and not cli.exists()
    summary = __import__("json").loads((lab.reports / lab.losing / "run.json").read_text())["results"]["BTC/USDT"]
    failed = by_name(Promotion(outcome.request, outcome.failures))
    assert sorted(failed) == ["DSR", "WFE", "out-of-sample Sharpe", "out-of-sample max drawdown rate"]
    assert failed["out-of-sample Sharpe"].figure == summary["stitched_oos"]["sharpe"] == pytest.approx(-2.5064, abs=5e-5)
    assert failed["out-of-sample max drawdown rate"].figure == pytest.approx(0.6684, abs=5e-5)
    assert failed["DSR"].figure == pytest.approx(0.00068, abs=5e-6) and failed["DSR"].threshold == 0.95
    assert failed["WFE"].figure is None and "not positive" in failed["WFE"].detail
    done = gauntlet("promote", lab.losing, "--to", "paper")
    assert done.exit_code == 1 and "refused: 4 of 12 gates failed" in done.output
    for gate in outcome.failures:
        assert f"  x {gate.text()}" in done.output
    assert "  x out-of-sample Sharpe -2.506 < 0.5: stitched out-of-sample, annualized" in done.output
    assert "  x out-of-sample max drawdown rate 0.6684 > 0.3: deepest fall" in done.output


def test_force_writes_a_failing_paper_deployment_and_records_it_on_every_gate(lab, cli):
    done = gauntlet("promote", lab.losing, "--to", "paper", "--force", "--name", "losing")
    assert done.exit_code == 0, done.output
    deployment = read_deployment(cli / "losing.toml")
    assert deployment.overrides.force is True
    waived = {g.name: g for g in deployment.gates if g.waived_by is not None}
    assert sorted(waived) == ["DSR", "WFE", "out-of-sample Sharpe", "out-of-sample max drawdown rate"]
    assert all(not g.passed and g.waived_by == "--force" for g in waived.values())
    assert waived["DSR"].figure == pytest.approx(0.00068, abs=5e-6) and waived["DSR"].threshold == 0.95
    live = gauntlet("promote", lab.good, "--to", "live", "--force", "--confirm")
    assert live.exit_code == 1 and "error: --force applies to --to paper only" in live.output
    assert "Traceback" not in live.output and sorted(p.name for p in cli.iterdir()) == ["losing.toml"]


def test_thresholds_come_from_a_config_file_and_gate_flags(lab, cli):
    config = cli.parent / "promote.toml"
    config.write_text("[gates]\nmax_pbo = 0.05\nmin_oos_round_trips = 20\n\n[risk.limits]\nmax_drawdown_rate = 0.25\n")
    done = gauntlet("promote", lab.good, "--to", "paper", "--config", str(config), "--gate", "min_oos_round_trips=12")
    assert done.exit_code == 1 and "refused: 1 of 12 gates failed" in done.output
    assert "  x PBO 0.1014 > 0.05: CSCV of all 4 trials over 1421 days" in done.output
    bad = gauntlet("promote", lab.good, "--to", "paper", "--gate", "min_sharpe=1")
    assert bad.exit_code == 1 and "error: --gate: min_sharpe: Extra inputs are not permitted" in bad.output
    assert "min_oos_sharpe" in bad.output and not cli.exists()


def test_changed_data_is_refused(lab, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(lab.data, copy)
    store = Store(copy)
    key = SeriesKey("binance", "BTC/USDT", "1h")
    candle = store.load(key).iloc[[-100]].copy()  # inside the run's window (2020-06-01 on)
    candle["volume"] += 1.0
    store.write(key, candle, source={"kind": "test"}, obtained_ms=4_102_444_800_000, on_conflict="replace")
    outcome = promote(PromoteRequest(lab.good, "paper"), lab.places(tmp_path, store))
    gate = by_name(outcome)["data unchanged since the run"]
    assert [g.name for g in outcome.failures] == ["data unchanged since the run"] and outcome.deployment is None
    assert gate.figure != gate.threshold and gate.rule == "=="
    assert "binance BTC/USDT 1h changed since run" in gate.detail and "run the study again" in gate.detail


def test_promoting_again_makes_v2_and_leaves_v1_byte_identical(lab, tmp_path):
    places = lab.places(tmp_path)
    first = promote(PromoteRequest(lab.good, "paper"), places)
    before = first.path.read_bytes()
    second = promote(PromoteRequest(lab.good, "paper", risk=RiskSpec(limits=LimitsSpec(max_drawdown_rate=0.2))), places)
    assert (first.deployment.version, second.deployment.version) == (1, 2)
    assert second.path == tmp_path / "deployments" / f"{NAME}.v2.toml" and first.path.read_bytes() == before
    assert read_deployment(second.path).spec.risk.limits.max_drawdown_rate == 0.2
    assert deployment_versions(tmp_path / "deployments") == {NAME: [(1, first.path), (2, second.path)]}


def test_live_without_a_paper_record_keys_or_breaker_is_refused_with_every_reason(lab, cli):
    done = gauntlet("promote", lab.good, "--to", "live")
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert "refused: 9 of 21 gates failed; nothing was written" in done.output
    hint = (f"no paper deployment of this spec; run `gauntlet promote {lab.good} --to paper` with the same risk and "
            f"realism options, then `gauntlet run {NAME}` for 14 days")
    for name in PAPER_GATES:
        assert f"  x {name} n/a ({hint})" in done.output
    assert ("  x API keys from the environment or a git-ignored .env no keys != environment or git-ignored .env: set "
            "GAUNTLET_API_KEY and GAUNTLET_API_SECRET in the environment or in a git-ignored .env") in done.output
    assert "  x key cannot withdraw n/a (cannot read the key's restrictions: LookupError: no key to ask about)" in done.output
    assert "  x key restricted to known IPs n/a (cannot read the key's restrictions" in done.output
    assert "  x stop or drawdown breaker none != a stop or a drawdown breaker: add --max-drawdown-rate" in done.output
    assert "  x confirmed no != --confirm or a yes: pass --confirm" in done.output
    assert gauntlet("promote", lab.good, "--to", "paper").exit_code == 0  # v1: no breaker, so not the same spec
    live = ("promote", lab.good, "--to", "live", "--max-drawdown-rate", "0.2", "--confirm")
    differs = gauntlet(*live)
    assert f"  x paper days run n/a (no paper deployment of this spec ({NAME} v1 differs in " \
           "risk.limits.max_drawdown_rate); run `gauntlet promote" in differs.output
    assert gauntlet("promote", lab.good, "--to", "paper", "--max-drawdown-rate", "0.2").exit_code == 0  # v2
    again = gauntlet(*live)
    never = f"{NAME} v2 has never run: run `gauntlet run {NAME}` for 14 days first"
    assert again.exit_code == 1 and all(f"  x {name} n/a ({never})" in again.output for name in PAPER_GATES)
    assert "refused: 7 of 21 gates failed" in again.output  # the paper record, the keys; breaker and yes now given
    assert sorted(p.name for p in cli.iterdir()) == [f"{NAME}.toml", f"{NAME}.v2.toml"]


def git_repo(folder: Path, env: str, ignored: bool, tracked: bool) -> Path:
    folder.mkdir()
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    (folder / ".env").write_text(env)
    if ignored:
        (folder / ".gitignore").write_text(".env\n")
    if tracked:
        subprocess.run(["git", "-C", str(folder), "add", "-f", ".env"], check=True)
    return folder / ".env"


def test_live_is_refused_with_a_tracked_env_or_a_key_that_can_withdraw(lab, tmp_path, monkeypatch):
    for name in ("GAUNTLET_API_KEY", "GAUNTLET_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    env = git_repo(tmp_path / "repo", f"GAUNTLET_API_KEY={KEY}\nGAUNTLET_API_SECRET={SECRET}\n", ignored=True, tracked=True)
    exchange, asked = FakeBinance(withdrawals=True, ip_restricted=False), []
    seams = LiveSeams(paper_evidence=lambda name: None, exchange=lambda ex, keys: asked.append((ex, keys)) or exchange,
                      ask=lambda gates: pytest.fail("asked although gates failed"))
    places = Places(Store(lab.data), lab.reports, tmp_path / "deployments", env)
    request = PromoteRequest(lab.good, "live", risk=RiskSpec(limits=LimitsSpec(daily_loss_rate=0.05)),
                             allow_unrestricted_ip=True)
    outcome = promote(request, places, seams)  # not asked to confirm: other gates fail
    gates = by_name(outcome)
    assert sorted(g.name for g in outcome.failures) == sorted([*PAPER_GATES, "API keys from the environment or a "
                                                               "git-ignored .env", "key cannot withdraw",
                                                               "key restricted to known IPs", "confirmed"])
    keys = gates["API keys from the environment or a git-ignored .env"]
    assert keys.figure == ".env tracked" and f"{env} is tracked by git" in keys.detail and "git rm --cached" in keys.detail
    withdraw = gates["key cannot withdraw"]
    assert (withdraw.passed, withdraw.figure, withdraw.rule, withdraw.threshold) == (False, True, "==", False)
    ip = gates["key restricted to known IPs"]
    assert (ip.passed, ip.figure, ip.threshold, ip.waived_by) == (False, False, True, "--allow-unrestricted-ip")
    assert gates["stop or drawdown breaker"].figure == "risk.limits.daily_loss_rate=0.05"
    assert gates["stop or drawdown breaker"].passed and gates["confirmed"].figure == "no"
    assert exchange.asked == 1 and asked[0][0] == "binance" and asked[0][1].source == ".env"
    assert outcome.deployment is None and not (tmp_path / "deployments").exists()
    unignored = git_repo(tmp_path / "repo2", "X=1\n", ignored=False, tracked=False)
    refused = by_name(promote(request, Places(Store(lab.data), lab.reports, tmp_path / "deployments", unignored), seams))
    assert refused["API keys from the environment or a git-ignored .env"].figure == ".env not ignored"


def test_live_passes_with_a_paper_record_safe_keys_and_a_yes_and_no_secret_reaches_the_file(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNTLET_API_KEY", KEY)
    monkeypatch.setenv("GAUNTLET_API_SECRET", SECRET)
    env = git_repo(tmp_path / "repo", f"GAUNTLET_API_KEY={KEY}\nGAUNTLET_API_SECRET={SECRET}\n", ignored=True,
                   tracked=False)
    places = Places(Store(lab.data), lab.reports, tmp_path / "deployments", env)
    risk = RiskSpec(limits=LimitsSpec(max_drawdown_rate=0.2))
    paper = promote(PromoteRequest(lab.good, "paper", risk=risk), places)
    before = paper.path.read_bytes()
    record = PaperEvidence(f"{NAME} v1", days=15.5, fills=31, unexplained_differences=0, drift_rate=0.002)
    asked: list[int] = []
    seams = LiveSeams(paper_evidence=lambda name: record if name == NAME else None,
                      exchange=lambda ex, keys: FakeBinance(ip_restricted=False),
                      ask=lambda gates: asked.append(len(gates)) or True)
    outcome = promote(PromoteRequest(lab.good, "live", risk=risk, allow_unrestricted_ip=True), places, seams)
    assert outcome.deployment is not None and outcome.path == tmp_path / "deployments" / f"{NAME}.v2.toml"
    deployment = read_deployment(outcome.path)
    gates = by_name(deployment)
    assert [(gates[n].figure, gates[n].threshold) for n in PAPER_GATES] == [(15.5, 14.0), (31, 20), (0, 0), (0.002, 0.01)]
    assert gates["confirmed"].figure == "interactive yes" and asked == [20]  # asked once, after the other 20 passed
    assert gates["key cannot withdraw"].passed and gates["key restricted to known IPs"].waived_by == "--allow-unrestricted-ip"
    assert gates["API keys from the environment or a git-ignored .env"].figure == "environment"
    assert (deployment.venue.kind, deployment.paper, deployment.overrides.allow_unrestricted_ip) == ("live", f"{NAME} v1", True)
    assert paper.path.read_bytes() == before
    for path in (paper.path, outcome.path):
        text = path.read_bytes()
        assert KEY.encode() not in text and SECRET.encode() not in text and b"s3cret" not in text


def test_the_venue_is_the_ccxt_exchange_the_candles_came_from_not_the_cache_folders_name(tmp_path):
    """The demo's `synthetic` folder holds candles fetched through ccxt's binance client (from the emulator): a
    deployment promoted from it must trade on `binance`, which ccxt knows; an imported series keeps its folder."""
    from research.promote import _ccxt_id
    from engine.spec import MarketSpec, RunSpec, StrategySpec

    store, frame = Store(tmp_path), shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet").iloc[:48]
    fetched = {"kind": "ccxt", "exchange": "binance", "api_url": "http://127.0.0.1:1/api/v3"}
    store.write(SeriesKey("synthetic", "BTC/USDT", "1h"), frame, source=fetched, obtained_ms=2**62)
    store.write(SeriesKey("mine", "BTC/USDT", "1h"), frame, source={"kind": "import", "file": "x.csv"}, obtained_ms=2**62)

    def spec(exchange: str) -> RunSpec:
        return RunSpec(strategy=StrategySpec(name="sma_cross", ref="sma_cross"), params={"fast": 5, "slow": 20},
                       market=MarketSpec(exchange=exchange, symbol="BTC/USDT", timeframe="1h"))

    assert (_ccxt_id(store, spec("synthetic")), _ccxt_id(store, spec("mine"))) == ("binance", "mine")
