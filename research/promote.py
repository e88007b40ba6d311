"""`gauntlet promote RUN --to paper|live`: judge a study's candidate against every gate and, when they all
pass, write it as the next version of a deployment (`engine.live.deployment`).

The gates are measured, not copied from the run: the run's candles are loaded again and must be the ones it
read, the strategy is checked for look-ahead on them, the ideal replay must equal the sweep, and the run's
out-of-sample and overfitting figures are held to the thresholds (`engine.live.gates.GateThresholds`, whose
defaults a `--config` file and `--gate` flags override). `--to live` adds the paper record and the security
checklist (`research.live_gates`). A refusal lists every failed gate at once and writes nothing; `--force`
(paper only) writes anyway and records it, in the deployment and on every gate it let through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from engine.live.deployment import (DataDigest, Deployment, Overrides, Venue, check_name, default_name,
                                    save_deployment)
from engine.live.gates import GateResult, GateThresholds
from engine.ohlcv import SeriesKey, Store
from engine.settings import settings
from engine.spec import RealismSpec, RiskSpec, RunSpec
from research.live_gates import LiveSeams, LiveTarget, confirmation_gate, live_gates
from research.promote_gates import study_gates
from research.promote_study import Study, load_study
from research.runs import git_commit, package_versions

__all__ = ["Places", "PromoteRequest", "Promotion", "promote"]


@dataclass(frozen=True)
class PromoteRequest:
    """What to promote, where to, and under which thresholds, risk rules and realism."""

    run_id: str
    to: Literal["paper", "live"]
    name: str | None = None  # None: <strategy>-<symbol>-<timeframe>
    symbol: str | None = None  # None: the run's only symbol
    account: str = "default"  # names the keys' environment variables
    force: bool = False  # paper only: write despite failed gates, recorded
    confirm: bool = False  # live: the yes, given up front
    allow_unrestricted_ip: bool = False  # live: a key without an IP restriction, recorded
    thresholds: GateThresholds = GateThresholds()
    risk: RiskSpec = RiskSpec()
    realism: RealismSpec = RealismSpec()


@dataclass(frozen=True)
class Places:
    """Where the runs, the cache, the deployments and the `.env` are (None: the settings' folders, ./.env)."""

    store: Store | None = None
    reports_dir: Path | None = None
    deployments_dir: Path | None = None
    env_file: Path | None = None

    def deployments(self) -> Path:
        return Path(self.deployments_dir) if self.deployments_dir is not None else settings().deployments_dir

    def env(self) -> Path:
        return Path(self.env_file) if self.env_file is not None else Path.cwd() / ".env"


@dataclass(frozen=True)
class Promotion:
    request: PromoteRequest
    gates: list[GateResult]
    deployment: Deployment | None = None  # None: refused, nothing written
    path: Path | None = None

    @property
    def failures(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


def promote(request: PromoteRequest, places: Places = Places(), seams: LiveSeams = LiveSeams()) -> Promotion:
    """Judge the run's candidate; write the deployment only when every gate passes (or `--force`, on paper)."""
    _check(request)
    study = load_study(request.run_id, request.symbol, places.store, places.reports_dir)
    spec = study.candidate.replace({"realism": request.realism.model_dump(), "risk": request.risk.model_dump()})
    gates, paper = study_gates(study, request.thresholds), None
    if request.to == "live":
        target = LiveTarget(study.run_id, request.name or default_name(spec), spec, study.strategy.declares_stop,
                            request.account, request.thresholds, places.deployments(), places.env(),
                            request.allow_unrestricted_ip)
        check = live_gates(target, seams)
        gates, paper = gates + check.gates, check.paper
        ask = (lambda: seams.ask(gates)) if seams.ask is not None else None
        gates.append(confirmation_gate(request.confirm, all(g.ok for g in gates), ask))
    if not all(g.ok for g in gates) and not request.force:
        return Promotion(request, gates)
    if request.force:
        gates = [g if g.ok else g.model_copy(update={"waived_by": "--force"}) for g in gates]
    exchange = _ccxt_id(places.store or Store(), spec)
    deployment, path = save_deployment(places.deployments(), _draft(request, study, spec, gates, paper, exchange))
    return Promotion(request, gates, deployment, path)


def _check(request: PromoteRequest) -> None:
    if request.to not in ("paper", "live"):
        raise ValueError(f"--to {request.to!r}: paper or live")
    if request.force and request.to == "live":
        raise ValueError("--force applies to --to paper only: a live deployment passes every gate (the one override "
                         "is --allow-unrestricted-ip)")
    if request.allow_unrestricted_ip and request.to != "live":
        raise ValueError("--allow-unrestricted-ip applies to --to live only")
    if request.name is not None:
        check_name(request.name)


def _ccxt_id(store: Store, spec: RunSpec) -> str:
    """The exchange the deployment trades on, as ccxt names it: the one the run's candles were fetched from (the
    cache folder may bear another name, e.g. `synthetic`), else the folder's name (candles imported by hand)."""
    manifest = store.manifest(SeriesKey(spec.market.exchange, spec.market.symbol, spec.market.timeframe))
    origin = manifest.ccxt_source if manifest is not None else None
    return str(origin["exchange"]) if origin is not None else spec.market.exchange


def _draft(request: PromoteRequest, study: Study, spec: RunSpec, gates: list[GateResult],
           paper: str | None, exchange: str) -> Deployment:
    """The deployment to write; `save_deployment` gives it its version."""
    now = study.fingerprint_now
    return Deployment(
        name=request.name or default_name(spec), version=1,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        venue=Venue(kind=request.to, exchange=exchange, account=request.account),
        spec=spec, thresholds=request.thresholds, gates=gates, runs=[study.run_id],
        data=DataDigest(series=now["series"], start_ms=now["start_ms"], end_ms=now["end_ms"], rows=now["rows"],
                        sha256=now["sha256"]),
        paper=paper, overrides=Overrides(force=request.force, allow_unrestricted_ip=request.allow_unrestricted_ip),
        git_commit=git_commit(), gauntlet_version=package_versions().get("gauntlet"))
