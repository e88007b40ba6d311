"""A SIGKILLed run leaves its staging folder; a later run removes it, and never the folder of a live run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from research import staging
from research.runs import RunFolder

_HOLD = """
import sys, time
from pathlib import Path
from research.runs import RunFolder
folder = RunFolder(sys.argv[1], Path(sys.argv[2]))
print(folder.staging, flush=True)
time.sleep(600)
"""


def hold(run_id: str, reports: Path) -> tuple[subprocess.Popen, Path]:
    """A real process in the middle of writing a run."""
    process = subprocess.Popen([sys.executable, "-c", _HOLD, run_id, str(reports)], stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    return process, Path(process.stdout.readline().strip())


def test_staging_of_a_sigkilled_run_is_removed_and_a_live_one_kept(tmp_path):
    killed, killed_dir = hold("20240101T000000Z-sma_cross-aaaaaaa", tmp_path)
    live, live_dir = hold("20240101T000001Z-sma_cross-bbbbbbb", tmp_path)
    try:
        assert killed_dir.is_dir() and live_dir.is_dir()
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        with RunFolder("20240101T000002Z-sma_cross-ccccccc", tmp_path) as later:
            assert later.removed_stale == [killed_dir]
        assert not killed_dir.exists() and live_dir.is_dir()
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()
        killed.stdout.close()
        live.stdout.close()
    with RunFolder("20240101T000003Z-sma_cross-ddddddd", tmp_path) as last:
        assert last.removed_stale == [live_dir] and not live_dir.exists()


def test_a_reused_pid_does_not_keep_a_dead_runs_folder(tmp_path):
    mine = tmp_path / ".staging-20240101T000000Z-x-aaaaaaa"
    staging.claim(mine)
    assert not staging.is_stale(mine)  # this process, alive
    owner = json.loads((mine / staging.OWNER).read_text())
    (mine / staging.OWNER).write_text(json.dumps({**owner, "started": owner["started"] - 3600}))
    assert staging.is_stale(mine)  # same pid, another process: the owner is gone


def test_a_folder_without_an_owner_is_removed_only_when_old(tmp_path):
    orphan = tmp_path / ".staging-20240101T000000Z-x-aaaaaaa"
    orphan.mkdir()
    assert staging.remove_stale(tmp_path) == []  # perhaps an owner an instant before it writes its file
    hours_ago = time.time() - 2 * staging.ORPHAN_AGE_S
    os.utime(orphan, (hours_ago, hours_ago))
    assert staging.remove_stale(tmp_path) == [orphan]


def test_a_completed_run_keeps_no_owner_file(tmp_path):
    with RunFolder("20240101T000000Z-x-aaaaaaa", tmp_path) as folder:
        final = folder.complete({"kind": "replay"})
    assert sorted(p.name for p in final.iterdir()) == ["run.json"]
