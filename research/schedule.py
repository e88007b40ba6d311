"""The jobs file of `gauntlet schedule` (`schedule.toml`): walk-forward reports on fresh data, on a cron.

One table per job, `[jobs.NAME]`, with the options `gauntlet walkforward` takes (the same names, as TOML
keys; the plan under `[jobs.NAME.walkforward]`), a five-field cron expression in UTC, and optionally
`[jobs.NAME.fetch]` (`since`, `api_url`) to refresh the cache through ccxt before each run. See
`schedule.example.toml`. Every mistake is one line naming the file, the job and the key.

Deployments add their own jobs (`research.schedule_deployments`): an optional `[deployments]` table sets their
cron and plan, names those that add none (`skip`), or turns them off (`enabled = false`). A file may hold
`[jobs.*]`, `[deployments]`, or both.

Cron is read as crontab reads it: day of week 0 (or 7) is Sunday, and a day of month together with a day of
week is refused, because crontab runs on either while APScheduler 3 would run only on days matching both.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from research.cli_research import WalkForwardArgs, walkforward_spec
from research.grid import split_specs

__all__ = ["DEFAULT_FILE", "DeploymentSettings", "FetchSettings", "Job", "Schedule", "WalkForwardPlan", "crontab_trigger",
           "load_schedule", "read_schedule"]

DEFAULT_FILE = Path("schedule.toml")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab's numbering: 0 and 7 are Sunday


def _crontab(expr: str) -> str:
    crontab_trigger(expr)  # refused as crontab would refuse it, with its words
    return expr


Cron = Annotated[str, AfterValidator(_crontab)]  # a five-field cron expression in UTC, checked when read


class WalkForwardPlan(BaseModel):
    """The split plan and the pick, as `gauntlet walkforward` takes them (--folds, --mode, --is-size ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    folds: int | None = Field(None, ge=1)
    mode: str = "rolling"
    is_size: int | str | None = None
    oos_size: int | str | None = None
    purge: int | str = 0
    embargo: int | str = 0
    objective: str = "sharpe"
    min_trades: int = Field(0, ge=0)


class FetchSettings(BaseModel):
    """Refresh the cache through ccxt before each run: from `since` up to the last closed candle."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    since: str
    api_url: str | None = None  # every API call goes here (the loopback emulator)
    rate_limit: bool = True
    max_attempts: int = Field(8, ge=1)


class Job(BaseModel):
    """One scheduled walk-forward report."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    strategy: str
    symbols: list[str] = Field(min_length=1)
    cron: Cron
    walkforward: WalkForwardPlan
    exchange: str = "binance"
    timeframe: str = "1h"
    params: list[str] = []  # --param specs: NAME=START:STOP:STEP or NAME=A,B,C
    start: str | None = None
    end: str | None = None
    fee_rate: float = Field(0.001, ge=0)
    slippage_rate: float = Field(0.0005, ge=0)
    init_cash: float = Field(10_000.0, gt=0)
    engine: str = "auto"
    max_gap: str | None = None
    notebook: bool = True  # execute notebooks/walkforward.ipynb into the run folder, with its HTML
    fetch: FetchSettings | None = None
    sharpe_threshold: float = Field(0.25, gt=0)  # an out-of-sample Sharpe moved by more is reported
    misfire_grace_s: int = Field(6 * 3600, ge=1)  # a run this late still runs; later ones are skipped

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("a job name is 1 to 64 letters, digits, '_' or '-'")
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: list[str]) -> list[str]:
        return split_specs(value)

    @model_validator(mode="after")
    def _plan(self) -> Job:
        try:
            walkforward_spec(self.args())
        except ValueError as exc:
            text = str(exc).replace("n_folds", "folds").replace("mode='anchored'", 'mode = "anchored"')
            raise ValueError(f"walkforward: {text}") from None
        return self

    def args(self) -> WalkForwardArgs:
        """The options of the equivalent `gauntlet walkforward` command."""
        w = self.walkforward
        return WalkForwardArgs(self.strategy, self.symbols, self.exchange, self.timeframe, self.start, self.end,
                               self.params, w.folds, w.mode, _text(w.is_size), _text(w.oos_size), str(w.purge),
                               str(w.embargo), w.objective, w.min_trades, self.fee_rate, self.slippage_rate,
                               self.init_cash, self.engine, self.notebook, self.max_gap)

    def trigger(self) -> Any:
        return crontab_trigger(self.cron)

    def check(self) -> None:
        """What validation cannot see without loading code: the strategy exists and takes the grid."""
        from engine.strategy.contract import load_strategy
        from research.grid import parse_grid

        try:
            parse_grid(load_strategy(self.strategy), self.params)
        except (ValueError, LookupError, ImportError, OSError) as exc:
            raise ValueError(f"job {self.name}: {exc}") from None


class DeploymentSettings(BaseModel):
    """The `[deployments]` table: how deployments' own jobs run (`research.schedule_deployments`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    cron: Cron = "30 2 * * *"  # daily at 02:30 UTC: a day's new candles, before a European morning
    cron_of: dict[str, Cron] = {}  # deployment name -> its own cron
    skip: list[str] = []  # deployments that add no job (retired: kept for their history)
    walkforward: WalkForwardPlan = WalkForwardPlan(folds=4, mode="anchored")  # when the study cannot be read
    fetch: FetchSettings | None = None  # a running runner keeps its own series current already
    notebook: bool = True
    sharpe_threshold: float = Field(0.25, gt=0)
    misfire_grace_s: int = Field(6 * 3600, ge=1)

    def cron_for(self, name: str) -> str:
        return self.cron_of.get(name, self.cron)


@dataclass(frozen=True)
class Schedule:
    """A jobs file: its own jobs, and how deployments add theirs."""

    jobs: list[Job]
    deployments: DeploymentSettings


def _text(size: int | str | None) -> str | None:
    return None if size is None else str(size)


def crontab_trigger(expr: str) -> Any:
    """An APScheduler cron trigger (UTC) that fires when crontab would."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expr!r}: expected five fields (minute hour day-of-month month day-of-week), "
                         f"got {len(fields)}")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise ValueError(f"cron {expr!r}: restrict the day of month or the day of week, not both (crontab runs on "
                         "either, this scheduler would run only on days matching both)")
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekday),
                           timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"cron {expr!r}: {exc}") from None


def _weekdays(text: str) -> str:
    """A crontab day-of-week field as APScheduler's day names (its numbers start at Monday, crontab's at
    Sunday): `1-5` -> `mon,tue,wed,thu,fri`."""
    if text == "*":
        return text
    days: set[int] = set()
    for item in text.lower().split(","):
        span, _, step = item.partition("/")
        if span == "*":
            lo, hi = 0, 6
        else:
            first, _, last = span.partition("-")
            lo = _weekday(first, text)
            hi = _weekday(last, text) if last else (6 if step else lo)
        if hi < lo or (step and not step.isdigit()) or step == "0":
            raise ValueError(f"day of week {text!r}: cannot read {item!r}")
        days.update(d % 7 for d in range(lo, hi + 1, int(step or 1)))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def _weekday(token: str, text: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token[:3] in _WEEKDAYS and len(token) == 3:
        return _WEEKDAYS.index(token)
    raise ValueError(f"day of week {text!r}: {token!r} is not 0-7 (0 and 7 are Sunday) or a day name (sun, mon, ...)")


def load_schedule(path: Path) -> list[Job]:
    """The jobs of a schedule file, every one validated; the first mistake is one line naming it."""
    return read_schedule(path).jobs


def read_schedule(path: Path) -> Schedule:
    """The jobs and the `[deployments]` table of a schedule file, validated; the first mistake is one line."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist; start from schedule.example.toml") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"jobs", "deployments"})
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; jobs go in tables named [jobs.NAME], the settings of "
                         "deployments' own jobs in [deployments]")
    tables = data.get("jobs") or {}
    if not isinstance(tables, dict) or (not tables and "deployments" not in data):
        raise ValueError(f"{path} has no jobs; add a table [jobs.NAME] (see schedule.example.toml)")
    try:
        deployments = DeploymentSettings.model_validate(data.get("deployments") or {})
    except ValidationError as exc:
        raise ValueError(f"{path}: deployments.{_describe(exc)}") from None
    return Schedule([_job(path, name, table) for name, table in tables.items()], deployments)


def _job(path: Path, name: str, table: Any) -> Job:
    if not isinstance(table, dict):
        raise ValueError(f"{path}: jobs.{name} must be a table, [jobs.{name}]")
    if "name" in table:
        raise ValueError(f"{path}: job {name}: name: a job is named by its table, [jobs.{name}]")
    try:
        return Job.model_validate({**table, "name": name})
    except ValidationError as exc:
        raise ValueError(f"{path}: job {name}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    """The first error as `key: message` (pydantic's own wording, without its prefixes)."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])
    if error["type"] == "missing":
        message = "missing (required)"
    elif error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}" if where else message
