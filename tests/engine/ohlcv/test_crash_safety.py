"""A write interrupted at any point leaves the cache readable and its manifest true."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from engine.ohlcv import SeriesKey, Store
from engine.ohlcv.files import FileOps
from engine.ohlcv.merge import merge
from tests.conftest import make_candles

KEY = SeriesKey("binance", "BTC/USDT", "1h")
ROOT = Path(__file__).resolve().parents[3]
OLD = make_candles(24 * 40, seed=1)                      # January + 9 days of February
NEW = make_candles(24 * 45, seed=2, start="2024-02-05")  # rewrites February, adds March


class Crash(BaseException):
    """Stands for the process dying: nothing may catch it and clean up."""


class CrashingFileOps(FileOps):
    """Real file operations that stop dead at step `crash_at`, halfway through a file if it is a write."""

    def __init__(self, crash_at: int) -> None:
        self.crash_at, self.steps = crash_at, 0

    def _step(self) -> bool:
        self.steps += 1
        return self.steps == self.crash_at

    def write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.crash.tmp")
        if self._step():
            tmp.write_bytes(data[: len(data) // 2])
            raise Crash
        tmp.write_bytes(data)
        if self._step():
            raise Crash
        os.replace(tmp, path)
        if self._step():
            raise Crash

    def unlink(self, path: Path) -> None:
        if self._step():
            raise Crash
        super().unlink(path)


def write(store: Store, frame: pd.DataFrame) -> None:
    store.write(KEY, frame, source={"kind": "test"}, obtained_ms=4_102_444_800_000, on_conflict="replace")


def assert_cache_is_consistent(root: Path, allowed: list[pd.DataFrame]) -> None:
    store = Store(root)
    assert store.verify_files(KEY) == []  # the manifest is true of the files
    loaded = store.load(KEY)              # readable, and passes every check
    assert any(loaded.equals(state) for state in allowed)


def steps_of_a_full_write(tmp_path: Path) -> int:
    counter = CrashingFileOps(crash_at=-1)
    write(Store(tmp_path / "count"), OLD)
    write(Store(tmp_path / "count", fs=counter), NEW)
    return counter.steps


def test_every_interruption_point_leaves_old_or_new_state(tmp_path):
    before, after = OLD, merge(OLD, NEW)
    total = steps_of_a_full_write(tmp_path)
    assert total >= 6  # three partitions, the manifest, the sweep of the replaced file
    for crash_at in range(1, total + 1):
        root = tmp_path / f"crash-{crash_at}"
        write(Store(root), OLD)
        with pytest.raises(Crash):
            write(Store(root, fs=CrashingFileOps(crash_at)), NEW)
        assert_cache_is_consistent(root, [before, after])
        write(Store(root), NEW)  # the next write completes and sweeps the leftovers
        assert_cache_is_consistent(root, [after])
        manifest = Store(root).manifest(KEY)
        on_disk = {p.name for p in KEY.folder(root).iterdir()}
        assert on_disk == {"manifest.json", ".lock"} | {p.file for p in manifest.partitions.values()}


_WRITER = textwrap.dedent("""
    import sys
    from engine.ohlcv import SeriesKey, Store
    from tests.conftest import make_candles
    store, key = Store(sys.argv[1]), SeriesKey("binance", "BTC/USDT", "1h")
    print("ready", flush=True)
    for seed in range(10_000):
        store.write(key, make_candles(24 * 90, seed=seed % 7), source={"kind": "test"}, obtained_ms=4_102_444_800_000,
                    on_conflict="replace")
""")


def test_a_writer_killed_at_random_moments_never_corrupts_the_cache(tmp_path):
    rng = random.Random(20261123)
    states = [make_candles(24 * 90, seed=seed) for seed in range(7)]
    for attempt in range(6):
        root = tmp_path / f"kill-{attempt}"
        child = subprocess.Popen([sys.executable, "-c", _WRITER, str(root)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        manifest = Store(root).manifest(KEY)
        if manifest is not None and manifest.partitions:
            assert_cache_is_consistent(root, states)
        else:  # killed during its first write (under load the kill can land that early): no series yet, cleanly
            with pytest.raises(LookupError, match="is not in the cache"):
                Store(root).load(KEY)


def test_a_first_write_interrupted_anywhere_leaves_no_series_and_nothing_of_its_own_behind(tmp_path):
    counter = CrashingFileOps(crash_at=-1)
    write(Store(tmp_path / "count", fs=counter), OLD)
    for crash_at in range(1, counter.steps + 1):
        root = tmp_path / f"first-{crash_at}"
        with pytest.raises(Crash):
            write(Store(root, fs=CrashingFileOps(crash_at)), OLD)
        store = Store(root)
        manifest = store.manifest(KEY)  # never "a manifest is missing beside partition files": they are ours
        if manifest is None or not manifest.partitions:
            with pytest.raises(LookupError, match="is not in the cache"):
                store.load(KEY)
        write(store, OLD)
        assert_cache_is_consistent(root, [OLD])
        on_disk = {p.name for p in KEY.folder(root).iterdir()}
        assert on_disk == {"manifest.json", ".lock"} | {p.file for p in store.manifest(KEY).partitions.values()}
