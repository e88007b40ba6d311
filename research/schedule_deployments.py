"""Deployments add their own jobs to `gauntlet schedule`: each one that is still meant to trade is re-validated
on the newest candles, on a cron, beside the jobs of `schedule.toml`.

What a deployment's job does, and why. A deployment is a claim: *this parameter set of this strategy, on this
market, passes the gates*. The candles it was judged on age while it trades, so what its owner wants to know,
unattended, is whether the claim still holds, and whether the trading still is what was tested. One job per
deployment, named after it, answers both in one report (one row in `gauntlet schedule status`, one history):

1. The study that justified it, run again on the cache as it stands: the walk-forward of the run it was
   promoted from (`runs` in the deployment), with that run's grid, split plan, objective and window start, and
   the deployment's strategy, market and costs, up to the newest candle, so its last out-of-sample windows are
   the candles the deployment has traded since. Its verdict is the gates' verdict on today's data. A walk-forward
   of the deployed point alone could not say this: DSR and PBO measure a search, and with one trial they are
   undefined (and fail their gates), so the study's grid is what makes the verdict comparable with the one the
   deployment passed. Only when that run is not under `reports/` (another machine promoted it, or it was
   deleted) is the deployed point walked forward alone, with the plan of `[deployments.walkforward]`, and the
   run says so.
2. The deployed point beside the new candidate: "the candidate fast=15,slow=40 is not what NAME v2 trades
   (fast=10,slow=30)" is the line that matters most, stated on every run in which it holds.
3. Its drift (`engine.live.drift`, what `gauntlet drift NAME` prints) when its runner has handled candles:
   `drift.json` in the run folder, and a line when a difference is unexplained or the explained ones exceed
   the deployment's own `max_drift_rate` gate.

As with any job: the comparison with its previous run, the notebook, the history; no overlap, missed times
coalesce, a failure is logged and tried again at the next time. A strategy source that changed since promotion
fails the job with the reason (`load_deployment`), every time, without stopping the scheduler.

Which deployments: the newest version of each name, unless its state (as `gauntlet deployments` shows it) is
`stopped` (its runner was stopped, or its process is gone: nothing trades it, so nothing needs re-validating)
or `schedule.toml` lists it under `[deployments] skip` (retired: kept for its history). A deployment not yet
run is scheduled: it is about to trade. The scheduler looks again every minute (`build_scheduler(deployments=)`),
so a promotion, a new version, a stop and a restart take effect without restarting it. Deployment files are
never edited, so a deployment's own cron is `[deployments.cron_of]` NAME, else `[deployments] cron`.

A deployment's job is named after it, so it cannot share a name with a job of `schedule.toml`: the two are
refused with one line naming both (`merge_jobs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from pydantic import field_validator

from research.schedule import DeploymentSettings, Job

__all__ = ["DeploymentJob", "Found", "Places", "deployment_jobs", "merge_jobs", "review"]

log = structlog.get_logger("gauntlet.schedule")
INACTIVE = ("stopped",)  # states whose deployments add no job


class DeploymentJob(Job):
    """The job a deployment adds: a `Job` (so the scheduler runs it as any other), with where it came from."""

    deployment: str
    version: int
    file: str  # the deployment file it was built from
    deployed: dict[str, Any]  # the parameters the deployment trades
    study: str | None = None  # the run whose study it re-runs; None: the deployed point alone
    basis: str = ""  # what the grid and the plan come from, in words

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:  # a deployment's own name rules (engine.live.deployment), not a job's
        return value

    @property
    def origin(self) -> str:
        """`deployments/NAME.toml v1`: the file in its folder, and the version."""
        path = Path(self.file)
        return f"{path.parent.name}/{path.name} v{self.version}"

    def check(self) -> None:
        """Nothing that could stop the scheduler: a deployment's problems fail its own job when it runs."""

    def verify(self) -> Any:  # engine.live.Deployment
        """The deployment as the runner would load it: refused when its strategy source changed since promotion."""
        from engine.live.deployment import load_deployment

        return load_deployment(Path(self.file))


@dataclass(frozen=True)
class Places:
    deployments_dir: Path
    data_dir: Path
    reports_dir: Path


@dataclass(frozen=True)
class Found:
    """The jobs of the deployments that add one, and why each other deployment adds none."""

    jobs: list[DeploymentJob]
    unscheduled: list[tuple[str, str]]  # (name, why)


def deployment_jobs(settings: DeploymentSettings, places: Places) -> Found:
    """One job for the newest version of every deployment that is not stopped or skipped (module docstring)."""
    from engine.live.deployment import DeploymentError, deployment_versions, read_deployment
    from engine.live.history import deployment_state

    jobs, unscheduled = [], []
    for name, versions in deployment_versions(places.deployments_dir).items():
        version, path = versions[-1]
        if not settings.enabled:
            unscheduled.append((name, "deployments add no jobs ([deployments] enabled = false)"))
            continue
        if name in settings.skip:
            unscheduled.append((name, "skipped ([deployments] skip)"))
            continue
        try:
            deployment = read_deployment(path)
            state = deployment_state(name, places.data_dir).state
            if state in INACTIVE:
                unscheduled.append((name, state))
                continue
            jobs.append(job_of(deployment, path, settings, places.reports_dir))
        except (DeploymentError, ValueError, LookupError, OSError) as exc:
            unscheduled.append((name, f"v{version}: {exc}"))
    return Found(jobs, unscheduled)


def job_of(deployment: Any, path: Path, settings: DeploymentSettings, reports_dir: Path) -> DeploymentJob:
    """The re-validation job of `deployment` (read from `path`): its study's grid and plan when that run can be
    read, else the deployed point alone under `settings.walkforward`."""
    spec = deployment.spec
    ref = spec.strategy.ref
    body: dict[str, Any] = {
        "name": deployment.name, "deployment": deployment.name, "version": deployment.version, "file": str(path),
        "deployed": dict(spec.params), "strategy": spec.strategy.path if ref.endswith(".py") and spec.strategy.path
        else ref, "symbols": [spec.market.symbol], "exchange": spec.market.exchange,
        "timeframe": spec.market.timeframe, "fee_rate": spec.costs.fee_rate, "slippage_rate": spec.costs.slippage_rate,
        "init_cash": spec.costs.init_cash, "cron": settings.cron_for(deployment.name), "notebook": settings.notebook,
        "fetch": settings.fetch, "sharpe_threshold": settings.sharpe_threshold,
        "misfire_grace_s": settings.misfire_grace_s}
    study, why = _study(deployment.runs, reports_dir)
    if study is None:
        body |= {"params": [f"{k}={v}" for k, v in spec.params.items()], "start": spec.market.start,
                 "walkforward": settings.walkforward.model_dump(),
                 "basis": f"the deployed parameters alone, under [deployments.walkforward]: {why}"}
        return DeploymentJob.model_validate(body)
    config = study["config"]
    plan = _plan(config) if study.get("kind") == "walkforward" else settings.walkforward.model_dump()
    body |= {"study": study["run_id"], "params": [f"{k}={','.join(map(str, v))}" for k, v in config["grid"].items()],
             "start": config.get("start"), "engine": config.get("engine", "auto"), "max_gap": config.get("max_gap"),
             "walkforward": plan, "basis": f"the {study.get('kind')} of run {study['run_id']}, on the newest candles"}
    return DeploymentJob.model_validate(body)


def _study(runs: list[str], reports_dir: Path) -> tuple[dict | None, str]:
    """The record of the run the deployment was promoted from, or None and why not."""
    from research.runs import load_record

    if not runs:
        return None, "the deployment names no run"
    try:
        record = load_record(runs[0], reports_dir)
    except (LookupError, ValueError) as exc:
        return None, str(exc)
    if not isinstance(record.get("config", {}).get("grid"), dict):
        return None, f"run {runs[0]} records no grid"
    return record, ""


def _plan(config: dict) -> dict[str, Any]:
    """A walk-forward run's split plan and pick, as `[jobs.NAME.walkforward]` spells them."""
    splits = config.get("splits", {})
    return {"folds": splits.get("n_folds"), "mode": splits.get("mode", "rolling"), "is_size": splits.get("is_size"),
            "oos_size": splits.get("oos_size"), "purge": splits.get("purge", 0), "embargo": splits.get("embargo", 0),
            "objective": config.get("objective", "sharpe"), "min_trades": config.get("min_trades", 0)}


def merge_jobs(jobs: list[Job], found: Found, file: Path) -> list[Job]:
    """The jobs of `file` and of the deployments; a name both use is one line naming both."""
    own = {job.name for job in jobs}
    for job in found.jobs:
        if job.name in own:
            raise ValueError(f"{file}: job {job.name}: {job.origin} adds a job of the same name (a deployment's job "
                             f"is named after it); rename the job in {file}, or add {job.name!r} to [deployments] "
                             f"skip")
    return [*jobs, *found.jobs]


def review(job: DeploymentJob, deployment: Any, folder: Path, comparison: dict, store: Any) -> None:
    """The deployment's part of a run's comparison: the deployed point beside each symbol's candidate, and drift
    (`drift.json`); what needs the owner's attention also goes into `changes`."""
    section: dict[str, Any] = {"name": job.deployment, "version": job.version, "file": job.file,
                               "params": job.deployed, "study": job.study, "basis": job.basis}
    label = f"{job.deployment} v{job.version}"
    for symbol, row in comparison.get("symbols", {}).items():
        candidate = row["candidate"]["current"]
        same = candidate is not None and all(candidate.get(k) == v for k, v in job.deployed.items())
        section.setdefault("candidate_is_deployed", {})[symbol] = same
        if candidate is None:
            comparison["changes"].append(f"{symbol}: no candidate (no fold picked a combination); {label} trades "
                                         f"{_params(job.deployed)}")
        elif not same:
            comparison["changes"].append(f"{symbol}: the candidate {_params(candidate)} is not what {label} trades "
                                         f"({_params(job.deployed)})")
    section["drift"], problem = _drift(job, deployment, folder, store)
    if problem:
        comparison["changes"].append(problem)
    comparison["deployment"] = section
    comparison["changed"] = bool(comparison["changes"])


def _drift(job: DeploymentJob, deployment: Any, folder: Path, store: Any) -> tuple[dict, str]:
    """Drift as `gauntlet drift` measures it, written to `drift.json`; (summary, a line for `changes` or "")."""
    from engine.live.drift import measure_drift
    from engine.live.history import journal_path
    from engine.live.journal import Journal

    path = journal_path(job.deployment, store.root)
    if not path.is_file():
        return {"measured": False, "note": "it has never run: no journal"}, ""
    spec = deployment.spec
    record = {"label": deployment.label(), "exchange": spec.market.exchange,
              "spec": spec.model_dump(mode="json", exclude_none=True)}
    try:
        with Journal.open(path) as journal:
            report = measure_drift(journal, job.deployment, store, record)
    except (LookupError, ValueError, OSError) as exc:
        log.warning("schedule.drift_failed", job=job.name, error=str(exc))
        return {"measured": False, "note": str(exc)}, f"drift could not be measured: {exc}"
    if report is None:
        return {"measured": False, "note": "it has handled no candle yet"}, ""
    bound = deployment.thresholds.max_drift_rate
    breaches = report.breaches(bound)
    (folder / "drift.json").write_text(json.dumps({**report.as_dict(), "max_drift_rate": bound, "breaches": breaches},
                                                  indent=1))
    summary = {"measured": True, "candles": report.candles, "fills": report.fills, "replay_fills": report.replay_fills,
               "unexplained": report.unexplained, "drift_rate": report.drift_rate, "max_drift_rate": bound,
               "breaches": breaches}
    return summary, (f"drift out of bounds: {'; '.join(breaches)}" if breaches else "")


def _params(values: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items()) if values else "none"
