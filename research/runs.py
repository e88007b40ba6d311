"""Run records: the id, the folder, and `run.json` (DESIGN.md, Records).

A run is written into a hidden staging folder and renamed into `reports/<run-id>/` only when complete,
so `reports/` never shows half a run, and a run that fails validation leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.settings import settings
from engine.strategy.contract import Strategy
from engine.spec import RunSpec, StrategySpec, describe, source_sha256
from research import staging

PACKAGES = ("gauntlet", "vectorbt", "vectorbt-rust", "numpy", "pandas", "numba", "pyarrow", "ccxt", "quantstats",
            "papermill", "plotly", "scipy")
_CHECKOUT = Path(__file__).resolve().parents[1]
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[A-Za-z0-9_-]+-[0-9a-f]{7}")
SOURCE_DIR = "source"  # the run folder's copy of the strategy's source


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def to_json(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=_plain, allow_nan=True)


def make_run_id(strategy: str, config: dict, now: datetime | None = None) -> str:
    """`<UTC yyyymmddThhmmssZ>-<strategy>-<short hash of the config>`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(to_json(config).encode()).hexdigest()[:7]
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_-]', '_', strategy)}-{digest}"


def check_run_id(run_id: str) -> str:
    """A run id as `make_run_id` makes them: never a path (`../x`, `a/b`) or anything else."""
    if not RUN_ID.fullmatch(run_id):
        raise ValueError(f"{run_id!r} is not a run id (yyyymmddThhmmssZ-strategy-hash, as `gauntlet runs list` "
                         "shows them)")
    return run_id


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = sys.version.split()[0]
    return versions


def git_commit() -> str | None:
    """HEAD of the checkout, with `-dirty` when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_CHECKOUT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_CHECKOUT,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


class RunFolder:
    """Files of one run, staged until `complete`."""

    @classmethod
    def new(cls, strategy: str, config: dict, reports_dir: Path | None = None) -> RunFolder:
        """A folder for a fresh run id; two identical runs in the same second get consecutive seconds."""
        while True:
            try:
                return cls(make_run_id(strategy, config), reports_dir)
            except FileExistsError:
                time.sleep(1.0 - time.time() % 1.0 + 0.001)

    def __init__(self, run_id: str, reports_dir: Path | None = None) -> None:
        self.run_id = run_id
        self.reports_dir = Path(reports_dir) if reports_dir is not None else settings().reports_dir
        self.final = self.reports_dir / run_id
        if self.final.exists():
            raise FileExistsError(f"run {run_id} already exists at {self.final}")
        self.staging = self.reports_dir / f"{staging.PREFIX}{run_id}"
        self.removed_stale = staging.remove_stale(self.reports_dir)  # what SIGKILLed runs left behind
        try:
            staging.claim(self.staging)
        except FileExistsError:
            raise FileExistsError(f"run {run_id} is being written already") from None

    def path(self, name: str) -> Path:
        return self.staging / name

    def complete(self, record: dict, extra: Callable[[Path], None] | None = None) -> Path:
        """Write run.json, let `extra` add files that read it (a notebook), move the folder into place and
        refresh reports/index.html."""
        from research.report_index import write_index

        keep_source(self.staging, record.get("strategy"))
        self.path("run.json").write_text(to_json(record))
        if extra is not None:
            extra(self.staging)
        staging.release(self.staging)
        self.staging.rename(self.final)
        write_index(self.reports_dir)
        return self.final

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)  # nothing left once completed; a failed run leaves nothing


def base_record(kind: str, run_id: str, command: list[str], config: dict, data: list[dict]) -> dict:
    return {"kind": kind, "run_id": run_id, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command, "config": config, "data": data, "packages": package_versions(),
            "git_commit": git_commit()}


def strategy_record(strategy: Strategy) -> dict:
    """The strategy as `run.json` records it: how to load it again, its source file and that file's sha256."""
    module = strategy.module
    file = getattr(module, "__file__", None)
    path = Path(file).resolve() if file else None
    if module.__name__ == f"engine.strategy.builtins.{strategy.name}":
        ref = strategy.name  # a built-in
    elif module.__name__.startswith("gauntlet_strategy_") and path is not None:
        ref = str(path)  # a .py file: absolute, so a replay finds it from any directory
    else:
        ref = module.__name__
    return StrategySpec(name=strategy.name, ref=ref, path=str(path) if path else None,
                        sha256=source_sha256(path) if path else None).model_dump()


def keep_source(folder: Path, strategy: dict | None) -> None:
    """Copy the strategy's source into the run folder, refusing a source that changed since the run loaded it."""
    if not strategy or not strategy.get("path"):
        return
    source = Path(strategy["path"]).read_bytes()
    if hashlib.sha256(source).hexdigest() != strategy["sha256"]:
        raise RuntimeError(f"{strategy['path']} changed while the run was going; nothing was saved, run it again")
    (folder / SOURCE_DIR).mkdir(exist_ok=True)
    (folder / SOURCE_DIR / Path(strategy["path"]).name).write_bytes(source)


def recorded_source(run_id: str, reports_dir: Path | None = None) -> Path:
    record = load_record(run_id, reports_dir)
    path = (record.get("strategy") or {}).get("path")
    copy = run_folder(run_id, reports_dir) / SOURCE_DIR / Path(path or "none").name
    if not path or not copy.is_file():
        raise LookupError(f"run {run_id} kept no copy of its strategy's source (runs before gauntlet 0.1 did not)")
    return copy


class RunRecord(BaseModel):
    """The parts of `run.json` that readers rely on; the rest is free-form."""

    model_config = ConfigDict(extra="allow")
    kind: Literal["sweep", "walkforward", "replay"]
    run_id: str
    created_at: str
    config: dict
    results: dict = {}
    headline: str = ""
    strategy: StrategySpec | None = None
    spec: RunSpec | None = None  # a replay's
    candidates: dict[str, RunSpec] = {}  # a sweep's or walk-forward's: symbol -> the spec that replays its candidate


def run_folder(run_id: str, reports_dir: Path | None = None) -> Path:
    return (Path(reports_dir) if reports_dir is not None else settings().reports_dir) / check_run_id(run_id)


def load_record(run_id: str, reports_dir: Path | None = None) -> dict:
    folder = run_folder(run_id, reports_dir)
    path = folder / "run.json"
    if not path.is_file():
        raise LookupError(f"no run {run_id} under {folder.parent} (`gauntlet runs list` shows the runs there)")
    return read_record(path)


def read_record(path: Path) -> dict:
    """`run.json`, checked: a damaged file is one error naming it, never a traceback."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DamagedRecord(f"{path} is damaged: {exc}") from None
    try:
        RunRecord.model_validate(record)
    except ValidationError as exc:
        raise DamagedRecord(f"{path} is damaged: {describe(exc)}") from None
    return record


class DamagedRecord(ValueError):
    """A `run.json` that cannot be read or lacks what readers need."""
