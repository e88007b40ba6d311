"""The bodies of `gauntlet schedule run` and `gauntlet schedule status`: the jobs of the file and those the
deployments add (`research.schedule_deployments`), each shown with where it comes from."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from engine.logs import configure_logging
from engine.settings import settings
from research.console import console
from research.schedule import Job, Schedule, read_schedule
from research.schedule_deployments import Found, Places, deployment_jobs, merge_jobs
from research.schedule_history import FILE_NAME, Entry, History
from research.schedule_jobs import Context

__all__ = ["run_command", "status_command"]


def _context(file: Path) -> Context:
    reports_dir = settings().reports_dir
    return Context(file, History(reports_dir / FILE_NAME), reports_dir)


def _places() -> Places:
    s = settings()
    return Places(s.deployments_dir, s.data_dir, s.reports_dir)


def _all_jobs(file: Path) -> tuple[Schedule, Found, list[Job]]:
    """The file, what the deployments add now, and every job (a name both use is refused)."""
    schedule = read_schedule(file)
    found = deployment_jobs(schedule.deployments, _places())
    return schedule, found, merge_jobs(schedule.jobs, found, file)


def run_command(file: Path, once: str | None, workers: int) -> bool:
    """The scheduler in the foreground until Ctrl-C; with `once`, that job now (False if it failed)."""
    from research.schedule_runner import attempt, build_scheduler

    configure_logging()
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # its skips and misses reach our log as events
    schedule, found, jobs = _all_jobs(file)
    ctx = _context(file)
    if once is not None:
        job = _named(jobs, once, file)
        job.check()
        return _report(job, attempt(job, ctx) is not None, ctx)
    for job in jobs:
        job.check()
    places = _places()
    scheduler = build_scheduler(jobs, ctx, workers=workers,
                                deployments=lambda: deployment_jobs(schedule.deployments, places).jobs)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager stops us as Ctrl-C does
    console.print(status_table(jobs, ctx.history, f"{file}: {len(jobs)} job(s), times in UTC; deployments are "
                                                  f"looked at every minute; Ctrl-C stops", file))
    _unscheduled(found)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        console.print("stopping: running jobs finish first")
        scheduler.shutdown(wait=True)
    return True


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _named(jobs: list[Job], name: str, file: Path) -> Job:
    for job in jobs:
        if job.name == name:
            return job
    raise LookupError(f"{file} has no job {name!r}, and no deployment adds one; the jobs are "
                      f"{', '.join(j.name for j in jobs) or 'none'}")


def _report(job: Job, ok: bool, ctx: Context) -> bool:
    last = ctx.history.last(job.name)
    if not ok and last is not None and last.result == "running":
        console.print(f"[bold red]error:[/] job {job.name} is running in another process since "
                      f"{_when(last.started_at)} UTC; not started again", highlight=False)
        return False
    if not ok or last is None:
        console.print(f"[bold red]error:[/] job {job.name} failed: {escape(last.note if last else 'unknown')}",
                      highlight=False, soft_wrap=True)
        return False
    console.print(f"job {job.name}: run [bold]{last.run_id}[/]  ->  {ctx.reports_dir / str(last.run_id)}",
                  highlight=False)
    console.print(f"job {job.name}: {escape(last.note)}", highlight=False, soft_wrap=True)
    return True


def status_command(file: Path) -> None:
    """The table, then each job's last run folder and what it found (or its error), unabridged."""
    _, found, jobs = _all_jobs(file)
    ctx = _context(file)
    console.print(status_table(jobs, ctx.history, f"{file}: times in UTC; the history is {ctx.history.path}", file))
    for job in jobs:
        last = ctx.history.last(job.name)
        if last is not None:
            run = f"run {last.run_id}: " if last.run_id else ""
            console.print(f"{job.name}: {run}{escape(last.note)}", highlight=False, soft_wrap=True)
    _unscheduled(found)


def _unscheduled(found: Found) -> None:
    """The deployments that add no job, and why: a stopped one, a skipped one, a file that cannot be read."""
    for name, why in found.unscheduled:
        console.print(f"deployment {name}: no job ({escape(why)})", highlight=False, soft_wrap=True)


def status_table(jobs: list[Job], history: History, title: str, file: Path | None = None) -> Table:
    """Each job's origin (the schedule file, or the deployment file and version), last run, result and next time."""
    table = Table("job", "from", "cron", "last run", "result", "next", title=title, title_justify="left")
    now = datetime.now(UTC)
    for job in jobs:
        last = history.last(job.name)
        following = job.trigger().get_next_fire_time(None, now)
        origin = getattr(job, "origin", file.name if file is not None else "-")
        table.add_row(job.name, origin, job.cron, _when(last.started_at) if last else "never", _result(last),
                      _when(following))
    return table


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _result(last: Entry | None) -> str:
    if last is None:
        return "-"
    colour = {"ok": "green", "failed": "red", "interrupted": "yellow"}.get(last.result, "cyan")
    took = f" ({(last.finished_at - last.started_at).total_seconds():.0f} s)" if last.finished_at else ""
    return f"[{colour}]{last.result}[/]{took}"
