"""The scheduler behind `gauntlet schedule run`: APScheduler, one entry per job, on the job's cron (UTC).

- A job never overlaps itself (`max_instances=1`: a time that comes while the previous run still runs is
  skipped and logged).
- Missed times coalesce into one run (`coalesce=True`), if the latest of them is within the job's misfire
  grace; that holds across restarts too: a job whose last run (from the history) is older than a fire time
  that passed while no scheduler ran gets one catch-up run at start.
- A failing job is logged and recorded with its error and tries again at its next time; the other jobs and
  the scheduler go on. Jobs run side by side in a small thread pool.
- Deployments' jobs (`research.schedule_deployments`) follow the same rules. The scheduler asks for them again
  every `SYNC_S` (on a thread of its own, so long jobs never delay it): a new deployment or version is added or
  replaces its job (a run under way finishes, and the same id keeps it from overlapping the new one), a stopped
  or skipped one is removed, and one that would take the name of a job of the file is refused in the log.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from research.schedule import Job
from research.schedule_deployments import DeploymentJob
from research.schedule_history import Busy
from research.schedule_jobs import Context, JobRun, run_job

__all__ = ["SYNC_S", "WORKERS", "attempt", "build_scheduler", "missed_times"]

log = structlog.get_logger("gauntlet.schedule")
WORKERS = 2  # jobs running at once; the walk-forward itself is CPU-bound
SYNC_S = 60.0  # how often deployments' jobs are looked for again
SYNC_ID = "gauntlet.deployments"  # the scheduler's own entry that does it (not a job of anyone's)
Run = Callable[[Job, Context], JobRun]
Offer = Callable[[], list[DeploymentJob]]


def _now() -> datetime:
    return datetime.now(UTC)


def attempt(job: Job, ctx: Context, run: Run = run_job) -> JobRun | None:
    """One run of a job, recorded in the history before and after; an error is logged and recorded, never
    raised, so the scheduler and the other jobs go on and the job tries again at its next time."""
    row, started = ctx.history.started(job.name, _now()), time.perf_counter()
    if isinstance(row, Busy):
        log.warning("schedule.job.skipped", job=job.name, reason=f"running in process {row.pid} since "
                    f"{row.since.isoformat(timespec='seconds')}")
        return None
    log.info("schedule.job.started", job=job.name)
    try:
        done = run(job, ctx)
    except Exception as exc:  # noqa: BLE001 - whatever a job raises is its failure, not the scheduler's
        error = _redact(str(exc) or type(exc).__name__)
        ctx.history.finished(row, _now(), "failed", None, error)
        log.error("schedule.job.failed", job=job.name, error=error, error_type=type(exc).__name__,
                  seconds=round(time.perf_counter() - started, 3))
        return None
    except BaseException:  # Ctrl-C in a --once run: the row says so instead of "running"
        ctx.history.finished(row, _now(), "failed", None, "interrupted")
        raise
    note = "; ".join(done.comparison.get("changes", [])) or (done.comparison.get("note") or "nothing changed")
    if done.notebook_error:
        note = f"{note}; {done.notebook_error}"
    ctx.history.finished(row, _now(), "ok", done.run_id, note)
    log.info("schedule.job.finished", job=job.name, run_id=done.run_id, changed=done.comparison.get("changed"),
             changes=done.comparison.get("changes"), seconds=round(time.perf_counter() - started, 3))
    return done


def _redact(text: str) -> str:
    """Credentials in a URL (`//user:secret@host`) never reach the log or the history."""
    return re.sub(r"//[^/@\s]+@", "//***@", text)


def build_scheduler(jobs: Sequence[Job], ctx: Context, scheduler_cls: type | None = None, run: Run = run_job,
                    trigger_of: Callable[[Job], Any] = Job.trigger, workers: int = WORKERS,
                    deployments: Offer | None = None, sync_s: float = SYNC_S) -> Any:
    """A configured, not yet started scheduler (BlockingScheduler unless `scheduler_cls` says otherwise);
    `trigger_of` gives each job's trigger (its cron; a test passes a short interval). `deployments` gives the
    deployments' jobs as they are now, asked again every `sync_s`; those among `jobs` are its first answer."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = (scheduler_cls or BlockingScheduler)(
        executors={"default": ThreadPoolExecutor(workers), "sync": ThreadPoolExecutor(1)}, timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1})
    now = _now()
    for job in jobs:
        _add(scheduler, job, ctx, run, trigger_of, now)
    if deployments is not None:
        sync = _Sync(scheduler, deployments, ctx, run, trigger_of, jobs)
        scheduler.add_job(sync, IntervalTrigger(seconds=sync_s, timezone=UTC), id=SYNC_ID, name=SYNC_ID,
                          executor="sync", coalesce=True, max_instances=1)
    scheduler.add_listener(_on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_SUBMITTED)
    return scheduler


def _add(scheduler: Any, job: Job, ctx: Context, run: Run, trigger_of: Callable[[Job], Any], now: datetime,
         replace: bool = False) -> None:
    trigger = trigger_of(job)
    catch_up = _catch_up(job, ctx, trigger, now)
    scheduler.add_job(attempt, trigger, args=(job, ctx, run), id=job.name, name=job.name, coalesce=True,
                      max_instances=1, misfire_grace_time=job.misfire_grace_s, replace_existing=replace,
                      **({"next_run_time": now} if catch_up else {}))


class _Sync:
    """The scheduler's deployments' jobs brought up to date with the deployments (see the module docstring)."""

    def __init__(self, scheduler: Any, offer: Offer, ctx: Context, run: Run, trigger_of: Callable[[Job], Any],
                 jobs: Sequence[Job]) -> None:
        self.scheduler, self.offer, self.ctx, self.run, self.trigger_of = scheduler, offer, ctx, run, trigger_of
        self.fixed = {j.name for j in jobs if not isinstance(j, DeploymentJob)}
        self.current = {j.name: j for j in jobs if isinstance(j, DeploymentJob)}
        self.refused: set[str] = set()

    def __call__(self) -> None:
        wanted: dict[str, DeploymentJob] = {}
        try:
            offered = self.offer()
        except Exception as exc:  # noqa: BLE001 - the jobs keep running as they are; the next look may do better
            log.error("schedule.deployments.unreadable", error=str(exc), error_type=type(exc).__name__)
            return
        for job in offered:
            if job.name not in self.fixed:
                wanted[job.name] = job
            elif job.origin not in self.refused:  # said once per deployment file, not every look
                self.refused.add(job.origin)
                log.error("schedule.deployment.refused", job=job.name, origin=job.origin,
                          reason="a job of the schedule file has its name; rename that job, or skip the deployment")
        for name in sorted(self.current.keys() - wanted.keys()):
            gone = self.current.pop(name)
            if self.scheduler.get_job(name) is not None:
                self.scheduler.remove_job(name)
            log.info("schedule.deployment.removed", job=name, origin=gone.origin)
        for name, job in wanted.items():
            if self.current.get(name) != job:
                _add(self.scheduler, job, self.ctx, self.run, self.trigger_of, _now(), replace=True)
                log.info("schedule.deployment.added" if name not in self.current else "schedule.deployment.updated",
                         job=name, origin=job.origin)
                self.current[name] = job


def _catch_up(job: Job, ctx: Context, trigger: Any, now: datetime) -> bool:
    """One run now if fire times passed since the job's last run while no scheduler ran, the latest of
    them within the job's misfire grace."""
    last = ctx.history.last(job.name)
    if last is None:
        return False
    missed = missed_times(trigger, last.started_at, now)
    if not missed:
        return False
    late = (now - missed[-1]).total_seconds()
    if late > job.misfire_grace_s:
        log.warning("schedule.job.missed", job=job.name, missed=len(missed), latest=missed[-1].isoformat(),
                    reason=f"more than its misfire grace ({job.misfire_grace_s} s) ago")
        return False
    log.info("schedule.job.catching_up", job=job.name, missed=len(missed), latest=missed[-1].isoformat())
    return True


def missed_times(trigger: Any, after: datetime, now: datetime, limit: int = 1000) -> list[datetime]:
    """The trigger's fire times in (after, now], oldest first (at most `limit`, the latest kept)."""
    found: deque[datetime] = deque(maxlen=limit)
    at = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while at is not None and at <= now:
        found.append(at)
        at = trigger.get_next_fire_time(at, at + timedelta(microseconds=1))
    return list(found)


def _on_event(event: Any) -> None:
    """APScheduler's skips and coalesced times, in the structured log."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

    if event.job_id == SYNC_ID:
        return
    if event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("schedule.job.skipped", job=event.job_id, reason="its previous run is still running")
    elif event.code == EVENT_JOB_MISSED:
        log.warning("schedule.job.missed", job=event.job_id, scheduled=event.scheduled_run_time.isoformat(),
                    reason="later than its misfire grace")
    elif len(event.scheduled_run_times) > 1:
        log.info("schedule.job.coalesced", job=event.job_id, times=len(event.scheduled_run_times))
