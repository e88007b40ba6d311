"""What a deployment's journal says about its life so far: its state and last heartbeat (`gauntlet
deployments`), and a paper deployment's track record (days run, fills, drift), which `--to live` requires.

The journal arrives with the runner: until then no deployment has one, so every deployment has "never run"
and no paper track record. These two functions are the seam the runner fills in; their callers do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    if not journal_path(name, data_dir).is_file():
        return NEVER_RUN
    return DeploymentState("unknown (this gauntlet cannot read runner journals yet)")


def read_paper_evidence(name: str, data_dir: Path | None = None) -> PaperEvidence | None:
    """The paper track record of deployment `name`; None when it has never run (no journal)."""
    journal = journal_path(name, data_dir)
    if not journal.is_file():
        return None
    raise LookupError(f"{journal}: this gauntlet cannot read runner journals yet, so the paper record of {name} is "
                      "unknown")
