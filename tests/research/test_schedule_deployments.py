"""Deployments' own jobs in `gauntlet schedule`: which deployments add one and from what (the study they were
promoted from, or the deployed point alone), shown with their origin; a name shared with the file's job is one
line; a run re-runs the study on the cache and states the deployed point beside the candidate and the drift;
on an accelerated clock the scheduler takes up a new deployment, a new version and a stop without a restart,
never overlaps a job with itself across versions, and a failing deployment is retried without stopping others."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from typer.testing import CliRunner

from engine.live import Heartbeat, Journal, journal_path, read_deployment, save_deployment
from engine.live.session import TickInputs
from engine.settings import settings
from research.cli import app
from research.runs import load_record
from research.schedule import read_schedule
from research.schedule_deployments import DeploymentJob, Places, deployment_jobs
from research.schedule_history import History
from research.schedule_jobs import Context, JobRun
from research.schedule_runner import build_scheduler
from tests.conftest import btc_1h_store
from tests.engine.live.rehearsal import FIRST, paper_deployment, traded

runner = CliRunner()
STUDY = ["walkforward", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=5:15:5", "--param", "slow=30,60",
         "--folds", "3", "--is-size", "60D", "--oos-size", "30D", "--purge", "24"]
FILE = """
[jobs.wf]
strategy = "sma_cross"
symbols = ["BTC/USDT"]
params = ["fast=5:15:5", "slow=30,60"]
cron = "0 6 * * *"
notebook = false

[jobs.wf.walkforward]
folds = 3
is_size = "60D"
oos_size = "30D"

[deployments]
cron = "0 5 * * *"
skip = ["old"]
notebook = false

[deployments.cron_of]
point = "15 */6 * * *"
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    """GAUNTLET_DATA_DIR, _REPORTS_DIR and _DEPLOYMENTS_DIR in tmp_path, the real BTC/USDT 1h candles cached."""
    for name in ("data", "reports", "deployments"):
        monkeypatch.setenv(f"GAUNTLET_{name.upper()}_DIR", str(tmp_path / name))
    settings.cache_clear()
    btc_1h_store(tmp_path / "data")
    (tmp_path / "schedule.toml").write_text(FILE)
    yield tmp_path
    settings.cache_clear()


def invoke(*args: str) -> str:
    done = runner.invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def promoted_study(home: Path, name: str) -> tuple[str, dict]:
    """A walk-forward study, promoted to paper as `name` (--force: the gates are not the point here)."""
    run_id = invoke(*STUDY).split("run ", 1)[1].split()[0]
    invoke("promote", run_id, "--to", "paper", "--force", "--name", name)
    return run_id, load_record(run_id, home / "reports")


def beat(home: Path, name: str, state: str) -> None:
    """What a runner of `name` in this process last said: running, or stopped."""
    now = int(time.time() * 1000)
    with Journal.open(journal_path(name, home / "data")) as journal:
        journal.beat(name, Heartbeat(state, now, now, None, os.getpid(), "asked to stop" if state == "stopped" else ""))


def test_every_deployment_not_stopped_or_skipped_adds_a_job_shown_with_its_origin(home):
    run_id, study = promoted_study(home, "sma-study")
    paper_deployment(home / "deployments", "point", params={"fast": 10, "slow": 30})  # its run is nowhere
    paper_deployment(home / "deployments", "idle")
    beat(home, "idle", "stopped")
    paper_deployment(home / "deployments", "old")
    schedule = read_schedule(home / "schedule.toml")
    found = deployment_jobs(schedule.deployments, Places(home / "deployments", home / "data", home / "reports"))
    jobs = {job.name: job for job in found.jobs}
    assert sorted(jobs) == ["point", "sma-study"]
    assert sorted(found.unscheduled) == [("idle", "stopped"), ("old", "skipped ([deployments] skip)")]
    studied, point = jobs["sma-study"], jobs["point"]
    assert studied.study == run_id and studied.basis == f"the walkforward of run {run_id}, on the newest candles"
    assert studied.params == ["fast=5,10,15", "slow=30,60"] and studied.walkforward.folds == 3
    assert (studied.walkforward.is_size, studied.walkforward.oos_size, studied.walkforward.purge) == ("60D", "30D", 24)
    assert studied.deployed == study["results"]["BTC/USDT"]["candidate"] and studied.cron == "0 5 * * *"
    assert point.study is None and point.params == ["fast=10", "slow=30"] and point.cron == "15 */6 * * *"
    assert point.walkforward.mode == "anchored" and point.basis.startswith(
        "the deployed parameters alone, under [deployments.walkforward]: no run 20260101T000000Z-x-abcdef0 under")
    shown = " ".join(invoke("schedule", "status", "--file", str(home / "schedule.toml")).split())
    assert "sma-study │ deployments/sma-study.toml v1 │ 0 5 * * *" in shown
    assert "point │ deployments/point.toml v1 │ 15 */6 * * *" in shown and "wf │ schedule.toml │ 0 6 * * *" in shown
    assert "deployment idle: no job (stopped)" in shown and "deployment old: no job (skipped ([deployments] skip))" in shown
    paper_deployment(home / "deployments", "point", params={"fast": 15, "slow": 60})  # its next version
    assert "point │ deployments/point.v2.toml v2" in " ".join(
        invoke("schedule", "status", "--file", str(home / "schedule.toml")).split())


def test_a_deployment_that_takes_the_name_of_a_job_of_the_file_is_one_line_naming_both(home):
    paper_deployment(home / "deployments", "wf")
    for args in (["status"], ["run", "--once", "wf"]):
        done = runner.invoke(app, ["schedule", *args, "--file", str(home / "schedule.toml")])
        assert done.exit_code == 1 and "Traceback" not in done.output
        assert (f"error: {home / 'schedule.toml'}: job wf: deployments/wf.toml v1 adds a job of the same name (a "
                "deployment's job is named after it); rename the job in") in " ".join(done.output.split())
    assert not (home / "reports").exists() or not list((home / "reports").glob("*/run.json"))


def test_a_deployments_job_reruns_its_study_on_the_cache_and_states_the_deployed_point(home):
    run_id, study = promoted_study(home, "sma-study")
    candidate = study["results"]["BTC/USDT"]["candidate"]
    other = {"fast": 15 if candidate["fast"] != 15 else 5, "slow": candidate["slow"]}
    deployed = read_deployment(home / "deployments" / "sma-study.toml")
    save_deployment(home / "deployments", deployed.model_copy(update={"name": "off-grid", "spec": deployed.spec.replace(
        {"params": other})}))
    invoke("schedule", "run", "--file", str(home / "schedule.toml"), "--once", "sma-study")
    invoke("schedule", "run", "--file", str(home / "schedule.toml"), "--once", "off-grid")
    history = History(home / "reports" / "schedule-history.sqlite")
    (same,), (off,) = history.entries("sma-study"), history.entries("off-grid")
    again = load_record(same.run_id, home / "reports")
    assert again["config"]["grid"] == study["config"]["grid"] and again["data"] == study["data"]  # the same candles
    assert again["results"]["BTC/USDT"]["stitched_oos"] == study["results"]["BTC/USDT"]["stitched_oos"]
    assert again["command"][-2:] == ["--once", "sma-study"]
    c = json.loads((home / "reports" / same.run_id / "comparison.json").read_text())
    d = c["deployment"]
    assert (d["name"], d["version"], d["study"], d["params"]) == ("sma-study", 1, run_id, candidate)
    assert d["candidate_is_deployed"] == {"BTC/USDT": True} and c["changes"] == [] and same.note == (
        "this is the job's first run")
    assert d["drift"] == {"measured": False, "note": "it has never run: no journal"}
    page = (home / "reports" / same.run_id / "comparison.html").read_text()
    assert "Re-validates deployment <code>sma-study v1</code>" in page and "Drift: not measured" in page
    words = (f"BTC/USDT: the candidate fast={candidate['fast']},slow={candidate['slow']} is not what off-grid v1 trades "
             f"(fast={other['fast']},slow={other['slow']})")
    assert off.result == "ok" and off.note == words
    assert json.loads((home / "reports" / off.run_id / "comparison.json").read_text())["changes"] == [words]


def test_a_running_deployments_job_measures_its_drift_and_says_when_it_is_out_of_bounds(home):
    traded(home, "halted", inputs={i: TickInputs(kill="exchange incident") for i in range(FIRST + 30, FIRST + 80)})
    beat(home, "halted", "running")  # its runner is up again: it trades, so it is re-validated
    invoke("schedule", "run", "--file", str(home / "schedule.toml"), "--once", "halted")
    (entry,) = History(home / "reports" / "schedule-history.sqlite").entries("halted")
    drift = json.loads((home / "reports" / entry.run_id / "drift.json").read_text())
    assert (drift["deployment"], drift["fills"], drift["unexplained"], drift["max_drift_rate"]) == ("halted v1", 19, 0,
                                                                                                    0.01)
    assert drift["drift_rate"] == pytest.approx(258.598804805 / 10_000, abs=1e-9) and drift["breaches"]
    summary = json.loads((home / "reports" / entry.run_id / "comparison.json").read_text())["deployment"]["drift"]
    assert summary["measured"] and summary["breaches"] == drift["breaches"] and summary["candles"] == 300
    assert entry.result == "ok" and f"drift out of bounds: {drift['breaches'][0]}" in entry.note


class Runs:
    """Each run of each job: (job, version or None, start, end), from inside the runs."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, int | None, float, float]] = []
        self.lock = threading.Lock()

    def body(self, seconds: float):
        def run(job, ctx: Context) -> JobRun:
            start = time.monotonic()
            time.sleep(seconds)
            with self.lock:
                self.spans.append((job.name, getattr(job, "version", None), start, time.monotonic()))
            return JobRun(job.name, f"run-{job.name}", ctx.reports_dir, {"changes": []}, {}, None)

        return run

    def of(self, name: str) -> list[tuple[str, int | None, float, float]]:
        with self.lock:
            return sorted((s for s in self.spans if s[0] == name), key=lambda s: s[2])


def _wait(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_scheduler_takes_up_new_deployments_versions_and_stops_without_a_restart(home):
    """Every 0.2 s stands for a cron time and the deployments are looked at every 0.1 s; a deployment's run takes
    0.3 s, so its times keep coming while it runs."""
    import research.walkforward_run  # noqa: F401 - imported once here, not inside the first timed run
    from research.schedule_jobs import run_job

    schedule = read_schedule(home / "schedule.toml")
    places = Places(home / "deployments", home / "data", home / "reports")
    ctx = Context(home / "schedule.toml", History(home / "reports" / "h.sqlite"), home / "reports")
    runs = Runs()

    def run(job, c):
        if job.name == "broken":
            return run_job(job, c)  # the real body: it fails before anything is read
        return runs.body(0.3 if isinstance(job, DeploymentJob) else 0.01)(job, c)

    scheduler = build_scheduler(schedule.jobs, ctx, BackgroundScheduler, run=run,
                                trigger_of=lambda job: IntervalTrigger(seconds=0.2, timezone=UTC), workers=4,
                                deployments=lambda: deployment_jobs(schedule.deployments, places).jobs, sync_s=0.1)
    scheduler.start()
    try:
        _wait(lambda: len(runs.of("wf")) >= 2)
        first = paper_deployment(home / "deployments", "dep")  # promoted while the scheduler runs
        _wait(lambda: len(runs.of("dep")) >= 2)
        paper_deployment(home / "deployments", "dep", params={"fast": 10, "slow": 40})  # its version 2
        _wait(lambda: any(version == 2 for _, version, _, _ in runs.of("dep")))
        broken = first.model_copy(update={"name": "broken", "spec": first.spec.replace({"strategy.sha256": "0" * 64})})
        save_deployment(home / "deployments", broken)
        paper_deployment(home / "deployments", "wf")  # would take the file's job's name: refused, the file's job runs on
        _wait(lambda: len(ctx.history.entries("broken")) >= 3 and len(runs.of("dep")) >= 5)
        beat(home, "dep", "stopped")
        stopped = time.monotonic()
        time.sleep(1.2)
    finally:
        scheduler.shutdown(wait=True)
    dep = runs.of("dep")
    assert all(later[2] >= earlier[3] for earlier, later in zip(dep, dep[1:]))  # never two at once, across versions
    versions = [version for _, version, _, _ in dep]
    assert versions == sorted(versions) and versions[0] == 1 and versions[-1] == 2
    assert not [s for s in dep if s[2] > stopped + 0.5]  # stopped: its job is gone within a look or two
    assert {version for _, version, _, _ in runs.of("wf")} == {None} and len(runs.of("wf")) >= 10  # the file's, always
    failures = ctx.history.entries("broken")
    assert {e.result for e in failures} == {"failed"} and "changed since broken v1 was promoted" in failures[-1].note
    assert {e.result for e in ctx.history.entries("dep")} == {"ok"} and len(ctx.history.entries("dep")) == len(dep)
