"""What a deployment's journal says about its life so far: its state and last heartbeat (`gauntlet
deployments`), and a paper deployment's track record (days run, fills, drift), which `--to live` requires.

Both read the runner's journal (`<data>/journal/NAME.sqlite`) and its kill switch, and never write: the state is
the runner's last word (running, stopped, halted), "latched" while the kill switch is, and "stopped" when it
says running but its process is gone (killed without a word); the track record is the span of the candles it
traded, its fills, and drift (`engine.live.drift`: its candles replayed from the cache and its orders matched one
by one, each difference explained or not).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.core.calendar import DAY_MS
from engine.settings import settings

__all__ = ["NEVER_RUN", "DeploymentState", "PaperEvidence", "deployment_state", "journal_path", "read_paper_evidence"]


@dataclass(frozen=True, slots=True)
class DeploymentState:
    state: str  # running, stopped, halted, latched; "never run" without a journal
    last_heartbeat: str | None = None  # UTC, ISO-8601


NEVER_RUN = DeploymentState("never run")


@dataclass(frozen=True, slots=True)
class PaperEvidence:
    """A paper deployment's record: how long it ran, how many fills, and its drift report (the live window
    replayed and matched trade by trade): differences it could not explain, and the explained ones' summed
    effect as a fraction of the initial cash."""

    deployment: str  # "NAME vN"
    days: float
    fills: int
    unexplained_differences: int
    drift_rate: float


def journal_path(name: str, data_dir: Path | None = None) -> Path:
    """Where the runner keeps a deployment's journal (SQLite): beside the cache, git-ignored with it."""
    return (Path(data_dir) if data_dir is not None else settings().data_dir) / "journal" / f"{name}.sqlite"


def deployment_state(name: str, data_dir: Path | None = None) -> DeploymentState:
    """State and last heartbeat from the deployment's journal; "never run" when it has none."""
    from engine.live.journal import Journal  # SQLAlchemy only when there is a journal to read
    from engine.live.killswitch import KillSwitch

    data = Path(data_dir) if data_dir is not None else settings().data_dir
    path = journal_path(name, data)
    latched = KillSwitch.of(name, data).reason() is not None
    if not path.is_file():
        return DeploymentState("latched") if latched else NEVER_RUN
    with Journal.open(path) as journal:
        beat = journal.heartbeat(name)
    if beat is None:
        return DeploymentState("latched" if latched else "stopped")
    state = beat.state
    if state == "running" and beat.pid is not None and not _alive(beat.pid):
        state = "stopped"  # killed without a word: its heartbeat says when it was last seen
    if latched:
        state = "latched"
    return DeploymentState(state, datetime.fromtimestamp(beat.heartbeat_ms / 1000, UTC).isoformat(timespec="seconds"))


def read_paper_evidence(name: str, data_dir: Path | None = None) -> PaperEvidence | None:
    """The paper track record of deployment `name`; None when it has never run (no journal)."""
    from engine.live.drift import measure_drift
    from engine.live.journal import Journal
    from engine.ohlcv.store import Store

    data = Path(data_dir) if data_dir is not None else settings().data_dir
    path = journal_path(name, data)
    if not path.is_file():
        return None
    with Journal.open(path) as journal:
        marks, snapshot = journal.equity(name), journal.latest_snapshot(name)
        drift = measure_drift(journal, name, Store(data))
    if drift is None or snapshot is None:
        return None
    days = (marks[-1].ts_ms - marks[0].ts_ms) / DAY_MS if marks else 0.0
    return PaperEvidence(snapshot.state["deployment"]["label"], days, drift.fills, drift.unexplained, drift.drift_rate)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
