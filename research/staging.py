"""Staging folders that outlive their process.

A run is written into `reports/.staging-<run-id>/` and renamed into place when complete. A process killed
with SIGKILL never reaches its cleanup, so each staging folder names its owner (host, pid and the process's
start time, which survives pid reuse); a later run removes the folders whose owner is gone, never a live one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import psutil

OWNER = ".owner.json"
PREFIX = ".staging-"
# a folder without a readable owner file is someone's mkdir an instant before the owner was written, or a
# folder of an older gauntlet: only this old is it judged abandoned
ORPHAN_AGE_S = 3600.0
_SAME_START_S = 1.0  # psutil's start times of one process agree to the clock tick


def _started(pid: int) -> float | None:
    """The start time of a running process, None when no such process exists."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:
        return float("nan")  # exists, but we may not look: treat as alive


def claim(folder: Path) -> None:
    """Create the staging folder (FileExistsError if it exists) and record this process as its owner."""
    folder.mkdir(parents=True)
    pid = os.getpid()
    tmp = folder / f"{OWNER}.tmp"
    tmp.write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "started": _started(pid)}))
    tmp.replace(folder / OWNER)


def release(folder: Path) -> None:
    """Forget the owner before the folder becomes a run."""
    (folder / OWNER).unlink(missing_ok=True)


def is_stale(folder: Path, now: float | None = None) -> bool:
    try:
        owner = json.loads((folder / OWNER).read_text())
        host, pid, started = owner["host"], int(owner["pid"]), float(owner["started"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            return (now or time.time()) - folder.stat().st_mtime > ORPHAN_AGE_S
        except OSError:
            return False  # gone already
    if host != socket.gethostname():
        return False  # a run on another machine sharing this folder: not ours to judge
    running = _started(pid)
    return running is None or abs(running - started) > _SAME_START_S  # nan (not ours to inspect) compares False


def remove_stale(reports_dir: Path) -> list[Path]:
    """Remove the staging folders of processes that are gone; return what was removed."""
    removed = []
    for folder in sorted(reports_dir.glob(f"{PREFIX}*")) if reports_dir.is_dir() else []:
        if folder.is_dir() and is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
