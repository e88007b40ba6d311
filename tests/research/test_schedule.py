"""`gauntlet schedule`: the jobs file, the scheduler (real APScheduler on short intervals), a job's report on
the emulator's candles through the real ccxt client, and the comparison with the job's previous run."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from typer.testing import CliRunner

from engine.ohlcv import load
from engine.venues.emulator import BinanceEmulator, Feed
from research.cli import app
from research.schedule import Job, crontab_trigger, load_schedule, read_schedule
from research.schedule_compare import compare
from research.schedule_history import History
from research.schedule_jobs import Context, JobRun, run_job
from research.schedule_runner import build_scheduler, missed_times
from tests.conftest import shared_candles

runner = CliRunner()
JOB = """
[jobs.{name}]
strategy = "sma_cross"
symbols = ["BTC/USDT"]
exchange = "{exchange}"
params = ["fast=5:15:5", "slow=30,60"]
cron = "{cron}"
notebook = {notebook}

[jobs.{name}.walkforward]
folds = 3
is_size = "60D"
oos_size = "30D"
purge = 24
"""


def job_text(name: str, exchange: str = "binance", cron: str = "0 6 * * *", notebook: str = "false") -> str:
    return JOB.format(name=name, exchange=exchange, cron=cron, notebook=notebook)


def one_job(tmp_path: Path, text: str) -> Job:
    path = tmp_path / "schedule.toml"
    path.write_text(text)
    (job,) = load_schedule(path)
    return job


@pytest.fixture
def dirs(data_dir, monkeypatch):
    """The folder holding GAUNTLET_DATA_DIR (data/), GAUNTLET_REPORTS_DIR (reports/) and GAUNTLET_DEPLOYMENTS_DIR
    (deployments/, empty: no deployment adds a job)."""
    from engine.settings import settings

    monkeypatch.setenv("GAUNTLET_DEPLOYMENTS_DIR", str(data_dir.parent / "deployments"))
    settings.cache_clear()
    return data_dir.parent


@pytest.mark.parametrize("change, words", [
    (("cron = \"0 6 * * *\"", "cron = \"0 6 * *\""), "job wf: cron: cron '0 6 * *': expected five fields"),
    (("cron = \"0 6 * * *\"", "cron = \"0 6 1 * 1\""), "restrict the day of month or the day of week, not both"),
    (("is_size = \"60D\"\n", ""), "job wf: walkforward: rolling mode needs is_size"),
    (("folds = 3", "folds = 0"), "job wf: walkforward.folds: Input should be greater than or equal to 1"),
    (("purge = 24", "purge = 24\nis_sise = 3"), "job wf: walkforward.is_sise: unknown key"),
    (("symbols = [\"BTC/USDT\"]\n", ""), "job wf: symbols: missing (required)"),
    (("params = [\"fast=5:15:5\", \"slow=30,60\"]", "params = [\"fast\"]"), "job wf: params: --param 'fast': expected"),
    (("[jobs.wf]", "[jobs.wf]\nname = \"x\""), "job wf: name: a job is named by its table"),
    (("[jobs.wf.walkforward]", "[jobs.wf.walkforwrd]"), "job wf: walkforward: missing (required)"),
])
def test_a_mistake_in_the_jobs_file_is_one_line_naming_the_file_job_and_key(dirs, change, words):
    path = dirs / "schedule.toml"
    path.write_text(job_text("wf").replace(*change))
    result = runner.invoke(app, ["schedule", "status", "--file", str(path)])
    assert result.exit_code == 1
    assert f"error: {path}: " in result.output and words in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_unknown_strategy_parameters_are_refused_before_anything_runs(dirs):
    path = dirs / "schedule.toml"
    path.write_text(job_text("wf").replace("fast=5:15:5", "fats=5:15:5"))
    result = runner.invoke(app, ["schedule", "run", "--file", str(path), "--once", "wf"])
    assert result.exit_code == 1 and "error: job wf: sma_cross has no parameter fats" in result.output
    missing = runner.invoke(app, ["schedule", "run", "--file", str(path), "--once", "nope"])
    assert missing.exit_code == 1 and "has no job 'nope', and no deployment adds one; the jobs are wf" in " ".join(
        missing.output.split())
    assert not (dirs / "reports").exists()


def test_cron_is_read_as_crontab_reads_it():
    tuesday = datetime(2026, 12, 1, 7, tzinfo=UTC)
    days = {expr: crontab_trigger(expr).get_next_fire_time(None, tuesday) for expr in
            ("0 6 * * 0", "0 6 * * 7", "0 6 * * sun", "0 6 * * 1-5", "30 6 * * *")}
    assert days["0 6 * * 0"] == days["0 6 * * 7"] == days["0 6 * * sun"] == datetime(2026, 12, 6, 6, tzinfo=UTC)
    assert days["0 6 * * 1-5"] == datetime(2026, 12, 2, 6, tzinfo=UTC)  # Wednesday; APScheduler's own 1 is Tuesday
    assert days["30 6 * * *"] == datetime(2026, 12, 2, 6, 30, tzinfo=UTC)
    every_5 = crontab_trigger("*/5 * * * *")
    assert len(missed_times(every_5, datetime(2026, 12, 1, 7, 1, tzinfo=UTC), datetime(2026, 12, 1, 7, 20, tzinfo=UTC))) == 4


def record(run_id: str, candidate: dict, sharpe: float, promote: bool) -> dict:
    text = "candidate ...: " + ("promote" if promote else "do not promote, fails DSR 0.1 < 0.95")
    return {"run_id": run_id, "results": {"BTC/USDT": {"candidate": candidate, "stitched_oos": {"sharpe": sharpe},
                                                       "verdict": {"promote": promote, "text": text}}}}


def test_the_comparison_with_the_previous_run_states_each_figure():
    before = record("r1", {"fast": 10, "slow": 30}, 1.2, True)
    before["results"]["ETH/USDT"] = before["results"]["BTC/USDT"]
    after = record("r2", {"fast": 15, "slow": 30}, 0.8, False)
    c = compare("wf", 0.25, after, before)
    row = c["symbols"]["BTC/USDT"]
    assert row["candidate"] == {"previous": {"fast": 10, "slow": 30}, "current": {"fast": 15, "slow": 30},
                                "changed": True}
    assert row["oos_sharpe"]["previous"] == 1.2 and row["oos_sharpe"]["current"] == 0.8
    assert row["oos_sharpe"]["effect"] == pytest.approx(-0.4) and row["oos_sharpe"]["moved"] is True
    assert row["verdict"]["previous"] is True and row["verdict"]["current"] is False and row["verdict"]["changed"]
    assert c["changes"] == ["BTC/USDT: candidate fast=10,slow=30 -> fast=15,slow=30",
                            "BTC/USDT: out-of-sample Sharpe 1.200 -> 0.800 (-0.400, more than 0.25)",
                            "BTC/USDT: verdict promote -> do not promote", "ETH/USDT: no longer in the job"]
    calm = compare("wf", 0.5, record("r3", {"fast": 10, "slow": 30}, 1.0, True), before)
    assert calm["symbols"]["BTC/USDT"]["oos_sharpe"]["moved"] is False  # |-0.2| is within 0.5
    assert calm["changes"] == ["ETH/USDT: no longer in the job"]
    regridded = {**record("r4", {"fast": 10, "slow": 30}, 1.2, True), "config": {"grid": {"fast": [5, 10]}}}
    assert compare("wf", 0.25, regridded, {**before, "config": {"grid": {"fast": [10]}}})["changes"][0] == (
        "the job's settings changed since the previous run: grid")
    first = compare("wf", 0.25, after, None, "this is the job's first run")
    assert first["previous_run_id"] is None and first["changed"] is False and first["note"] == "this is the job's first run"


class Timeline:
    """When each run of each job started and ended (wall time), from inside the runs."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = {}
        self.lock = threading.Lock()

    def run(self, seconds: float):
        def body(job: Job, ctx: Context) -> JobRun:
            start = time.monotonic()
            time.sleep(seconds)
            with self.lock:
                self.spans.setdefault(job.name, []).append((start, time.monotonic()))
            return JobRun(job.name, f"run-{job.name}", ctx.reports_dir, {"changes": []}, {}, None)

        return body


def test_a_failing_job_and_a_slow_job_do_not_stop_the_others_and_never_overlap(dirs):
    """Every 0.2 s stands for a cron time; the slow job takes 0.7 s; the broken one fails in the real job
    body (its cache holds nothing) each time it fires."""
    import research.walkforward_run  # noqa: F401 - imported once here, not inside the first timed run

    jobs = [one_job(dirs, job_text(name, exchange="nowhere" if name == "broken" else "binance"))
            for name in ("quick", "slow", "broken")]
    timeline, ctx = Timeline(), Context(dirs / "schedule.toml", History(dirs / "reports" / "h.sqlite"), dirs / "reports")
    bodies = {"quick": timeline.run(0.01), "slow": timeline.run(0.7), "broken": run_job}
    scheduler = build_scheduler(jobs, ctx, BackgroundScheduler, run=lambda job, c: bodies[job.name](job, c),
                                trigger_of=lambda job: IntervalTrigger(seconds=0.2, timezone=UTC), workers=3)
    skipped: list[str] = []
    scheduler.add_listener(lambda event: skipped.append(event.job_id), EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    time.sleep(2.5)
    scheduler.shutdown(wait=True)
    quick, slow = timeline.spans["quick"], timeline.spans["slow"]
    assert len(quick) >= 5 and 2 <= len(slow) <= 4
    assert all(later[0] >= earlier[1] for earlier, later in zip(slow, slow[1:]))  # never two at once
    assert skipped.count("slow") >= 2  # the times that came while it ran
    failures = ctx.history.entries("broken")
    assert len(failures) >= 3 and {e.result for e in failures} == {"failed"}  # tried again at its next times
    assert "nowhere BTC/USDT 1h" in failures[-1].note and failures[-1].run_id is None
    assert {e.result for e in ctx.history.entries("quick")} == {"ok"}
    assert len(ctx.history.entries("slow")) == len(slow)


def test_missed_times_coalesce_into_one_run(dirs):
    """Paused for 2.2 s, a job due every 0.5 s has missed four times: it runs once for all of them."""
    job = one_job(dirs, job_text("quick"))
    timeline, ctx = Timeline(), Context(dirs / "s.toml", History(dirs / "h.sqlite"), dirs / "reports")
    scheduler = build_scheduler([job], ctx, BackgroundScheduler, run=timeline.run(0.0),
                                trigger_of=lambda job: IntervalTrigger(seconds=0.5, timezone=UTC))
    submitted: list[float] = []
    scheduler.add_listener(lambda event: submitted.append(time.monotonic()), EVENT_JOB_SUBMITTED)
    scheduler.start(paused=True)
    time.sleep(2.2)
    resumed = time.monotonic()
    scheduler.resume()
    while not timeline.spans and time.monotonic() < resumed + 2:
        time.sleep(0.01)
    scheduler.shutdown(wait=True)
    assert len(submitted) == 1 and submitted[0] >= resumed  # not four
    assert len(timeline.spans["quick"]) == 1 and len(ctx.history.entries("quick")) == 1


def test_a_time_missed_while_no_scheduler_ran_is_caught_up_once(dirs):
    job = one_job(dirs, job_text("daily", cron="*/5 * * * *"))
    history = History(dirs / "h.sqlite")
    row = history.started("daily", datetime.now(UTC) - timedelta(minutes=17))  # three or four times ago
    history.finished(row, datetime.now(UTC) - timedelta(minutes=16), "ok", "r0", "")
    timeline, ctx = Timeline(), Context(dirs / "s.toml", history, dirs / "reports")
    scheduler = build_scheduler([job], ctx, BackgroundScheduler, run=timeline.run(0.0))
    scheduler.start()
    deadline = time.monotonic() + 5
    while len(history.entries("daily")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    scheduler.shutdown(wait=True)
    assert len(timeline.spans["daily"]) == 1 and history.last("daily").result == "ok"
    late = one_job(dirs, job_text("late", cron="*/5 * * * *").replace("notebook", "misfire_grace_s = 1\nnotebook"))
    history.finished(history.started("late", datetime.now(UTC) - timedelta(minutes=17)), datetime.now(UTC), "ok", "r", "")
    waiting = build_scheduler([late], Context(dirs / "s.toml", history, dirs / "reports"), BackgroundScheduler,
                              run=timeline.run(0.0))
    waiting.start(paused=True)
    next_time = waiting.get_job("late").next_run_time
    waiting.shutdown()
    assert next_time > datetime.now(UTC)  # no catch-up: the latest missed time is beyond its one-second grace


def schedule_file(tmp_path: Path, emulator: BinanceEmulator, notebook: str) -> Path:
    text = job_text("wf", notebook=notebook) + (f'\n[jobs.wf.fetch]\nsince = "2024-01-01"\napi_url = "{emulator.base_url}"\n'
                                              "rate_limit = false\n")
    path = tmp_path / "schedule.toml"
    path.write_text(text)
    return path


def test_a_job_reports_on_the_emulators_candles_and_compares_with_its_previous_run(dirs):
    """Two runs of one job through the real ccxt client: the second sees six more weeks of candles, and its
    comparison states the figures of both runs."""
    feed = Feed.from_frame("BTC/USDT", "1h", shared_candles("binance_BTC-USDT_1h_2024-01_2024-09.parquet"))
    with BinanceEmulator([feed], now_ms=int(pd.Timestamp("2024-06-01", tz="UTC").value // 10**6)) as emulator:
        path = schedule_file(dirs, emulator, notebook="false")  # the notebook only the second time, to save time
        first = runner.invoke(app, ["schedule", "run", "--file", str(path), "--once", "wf"])
        assert first.exit_code == 0, first.output
        assert load("binance", "BTC/USDT", "1h").index[-1] == pd.Timestamp("2024-05-31 23:00", tz="UTC")
        emulator.clock.set(int(pd.Timestamp("2024-07-15", tz="UTC").value // 10**6))
        schedule_file(dirs, emulator, notebook="true")
        second = runner.invoke(app, ["schedule", "run", "--file", str(path), "--once", "wf"])
        assert second.exit_code == 0, second.output
    assert len(load("binance", "BTC/USDT", "1h")) == (31 + 29 + 31 + 30 + 31 + 30 + 14) * 24
    reports = dirs / "reports"
    old, new = (reports / str(e.run_id) for e in History(reports / "schedule-history.sqlite").entries("wf"))
    assert old != new and old.is_dir() and new.is_dir()  # two runs may share a second: ordered by the history
    runs = [json.loads((folder / "run.json").read_text()) for folder in (old, new)]
    assert runs[0]["command"][-2:] == ["--once", "wf"] and runs[1]["results"]["BTC/USDT"]["stitched_oos"]
    c = json.loads((new / "comparison.json").read_text())
    assert c["run_id"] == new.name and c["previous_run_id"] == old.name and c["sharpe_threshold"] == 0.25
    was, now = (r["results"]["BTC/USDT"] for r in runs)
    row = c["symbols"]["BTC/USDT"]
    assert row["oos_sharpe"]["previous"] == was["stitched_oos"]["sharpe"]
    assert row["oos_sharpe"]["current"] == now["stitched_oos"]["sharpe"]
    assert row["oos_sharpe"]["effect"] == pytest.approx(now["stitched_oos"]["sharpe"] - was["stitched_oos"]["sharpe"])
    assert row["oos_sharpe"]["moved"] == (abs(row["oos_sharpe"]["effect"]) > 0.25)
    assert row["candidate"] == {"previous": was["candidate"], "current": now["candidate"],
                                "changed": was["candidate"] != now["candidate"]}
    assert row["verdict"]["previous"] == was["verdict"]["promote"] and row["verdict"]["current"] == now["verdict"]["promote"]
    assert c["settings_changed"] == []  # the notebook is not a setting of the run
    assert json.loads((old / "comparison.json").read_text())["note"] == "this is the job's first run"
    page = (new / "walkforward.html").read_text()
    assert "Scheduled job wf: what changed" in page and f"<code>{old.name}</code>" in page
    assert f"{new.name}/comparison.html" in (reports / "index.html").read_text()
    status = runner.invoke(app, ["schedule", "status", "--file", str(path)])
    assert status.exit_code == 0, status.output
    assert f"wf: run {new.name}: " in status.output and "ok" in status.output and "never" not in status.output


def test_the_example_jobs_file_is_valid():
    jobs = load_schedule(Path(__file__).resolve().parents[2] / "schedule.example.toml")
    for job in jobs:
        job.check()
    assert [j.name for j in jobs] == ["btc_daily", "eth_weekly"] and jobs[0].fetch.since == "2024-01-01"
    settings = read_schedule(Path(__file__).resolve().parents[2] / "schedule.example.toml").deployments
    assert settings.cron == "30 2 * * *" and settings.walkforward.folds == 4 and settings.enabled


def test_a_job_running_in_another_process_is_not_started_again(dirs):
    import os

    path = dirs / "schedule.toml"
    path.write_text(job_text("wf"))
    history = History(dirs / "reports" / "schedule-history.sqlite")
    history.started("wf", datetime.now(UTC), pid=os.getppid())  # a live process that is not this one
    result = runner.invoke(app, ["schedule", "run", "--file", str(path), "--once", "wf"])
    assert result.exit_code == 1 and "error: job wf is running in another process since" in result.output
    assert [e.result for e in history.entries("wf")] == ["running"]  # nothing else recorded, nothing run
    assert not [p for p in (dirs / "reports").iterdir() if p.is_dir()]
