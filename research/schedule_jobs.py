"""One run of a scheduled job: refresh the cache through ccxt, run the walk-forward (and its notebook) into
a run folder, compare it with the job's previous run, publish it and refresh `reports/index.html`.

The same steps as `gauntlet data fetch` and `gauntlet walkforward --notebook`, through the same functions,
without their progress bars: jobs run side by side in the scheduler's threads, where a terminal display
belongs to no one; what happened goes to the structured log instead. A deployment's job
(`research.schedule_deployments`) first loads its deployment as the runner would (a strategy source changed
since promotion fails it), and its comparison adds the deployed point and its drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from engine.ohlcv import SeriesKey, Store, to_ms
from research.schedule import Job
from research.schedule_deployments import DeploymentJob, review
from research.schedule_history import History

__all__ = ["Context", "JobRun", "run_job"]

log = structlog.get_logger("gauntlet.schedule")


@dataclass(frozen=True, slots=True)
class Context:
    """Where a job's run reads and writes: its schedule file (for the record), the history, `reports/`."""

    file: Path
    history: History
    reports_dir: Path


@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    run_id: str
    folder: Path
    comparison: dict
    fetched: dict[str, int]  # symbol -> new candles (empty: the job has no [fetch])
    notebook_error: str | None  # the notebook failed; the run is kept and its notebook shows the failing cell


def run_job(job: Job, ctx: Context, store: Store | None = None) -> JobRun:
    from research.cli_research import walkforward_spec
    from research.walkforward import run_walkforward
    from research.walkforward_run import write_walkforward

    deployment = job.verify() if isinstance(job, DeploymentJob) else None
    store = store or Store()
    fetched = refresh(job, store)
    outcome = run_walkforward(walkforward_spec(job.args()), store)
    steps = _Steps(job, *_previous(job, ctx), deployment=deployment, store=store)
    command = ["gauntlet", "schedule", "run", "--file", str(ctx.file), "--once", job.name]
    folder = write_walkforward(outcome, command, ctx.reports_dir, extra=steps)
    return JobRun(job.name, folder.name, folder, steps.comparison, fetched, steps.notebook_error)


def refresh(job: Job, store: Store) -> dict[str, int]:
    """Fetch what the cache lacks of each symbol, from `fetch.since` to the last closed candle."""
    if job.fetch is None:
        return {}
    from engine.ohlcv.fetch import FetchPlan, RetryPolicy, fetch
    from engine.venues.ccxt_client import make_exchange

    client = make_exchange(job.exchange, api_url=job.fetch.api_url, rate_limit=job.fetch.rate_limit)
    fetched = {}
    for symbol in job.symbols:
        plan = FetchPlan(SeriesKey(job.exchange, symbol, job.timeframe), to_ms(job.fetch.since))
        result = fetch(client, store, plan, policy=RetryPolicy(max_attempts=job.fetch.max_attempts))
        log.info("schedule.fetched", job=job.name, series=str(plan.key), candles=result.candles,
                 requests=result.requests, retries=result.retries, rows_in_cache=result.rows_in_cache)
        fetched[symbol] = result.candles
    return fetched


def _previous(job: Job, ctx: Context) -> tuple[dict | None, str]:
    """The record of the job's last successful run, or None and why not."""
    from research.runs import load_record

    run_id = ctx.history.previous_run_id(job.name)
    if run_id is None:
        return None, "this is the job's first run"
    try:
        return load_record(run_id, ctx.reports_dir), ""
    except (LookupError, ValueError) as exc:
        return None, f"its previous run {run_id} cannot be read: {exc}"


class _Steps:
    """What the staging run folder gets after `run.json`: the notebook, then the comparison (which the
    notebook's HTML then shows at its top)."""

    def __init__(self, job: Job, previous: dict | None, note: str, deployment: object = None,
                 store: Store | None = None) -> None:
        self.job, self.previous, self.note, self.deployment, self.store = job, previous, note, deployment, store
        self.comparison: dict = {}
        self.notebook_error: str | None = None

    def __call__(self, folder: Path) -> None:
        from research.runs import read_record
        from research.schedule_compare import compare, write_comparison

        if self.job.notebook:
            self._notebook(folder)
        current = read_record(folder / "run.json")
        self.comparison = compare(self.job.name, self.job.sharpe_threshold, current, self.previous, self.note)
        if isinstance(self.job, DeploymentJob):
            review(self.job, self.deployment, folder, self.comparison, self.store)
        write_comparison(folder, self.comparison)

    def _notebook(self, folder: Path) -> None:
        from papermill import PapermillExecutionError

        from research.notebooks import run_notebook

        try:
            run_notebook("walkforward", folder, {"run_dir": "."})
        except PapermillExecutionError as exc:
            self.notebook_error = f"walkforward.ipynb failed at cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
            log.warning("schedule.notebook_failed", job=self.job.name, error=self.notebook_error)
