"""The executors on the 355-combination SMA grid (fast 5..100 step 5, slow 20..400 step 20, fast < slow)
over one year of 1-minute bars read from a Parquet cache: the local executor on one core and on every core,
and Dask (a LocalCluster of one-thread workers on 127.0.0.1) with one and with two workers, against a plain
vectorbt sweep (`bench_sweep.vectorbt`, a 60-combination subset) in the same run.

What is timed is the executor's answer to one request (`Executor.score`): for Dask that includes cutting it
into tasks, each worker reading and verifying the candles from the cache, and the results coming back. The
first call (kernels loaded or compiled; for Dask also each worker's imports) is timed apart from the steady
state, the best of 3 calls; the cluster's start is timed apart too. In the steady state Dask's workers hold
the bars they verified (as they do across a walk-forward's many requests), so it times cutting, scheduling,
scoring and transfer; the first call includes reading the files. Each mode runs in its own process, so
its peak RSS is its own; a Dask mode's is the client's plus every worker's (their own peaks, asked of them
before the cluster stops). Scaling efficiency is rate(n) / (n x rate(1)) against the same executor on one
core or worker; Dask's overhead is its steady wall time against the local executor's on as many cores.
Wall and CPU time (every thread of the client and of the workers) are both printed: on a machine shared with
other work, wall time says what we were left, CPU time what the work cost. Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPEATS = 3
MODES = ("local 1 core", "local all cores", "dask 1 worker", "dask 2 workers", "vectorbt")


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _write_cache(root: Path) -> None:
    from engine.ohlcv import SeriesKey, Store
    from engine.ohlcv.sample import synthetic_candles

    Store(root).write(SeriesKey("synthetic", "BTC/USDT", "1m"), synthetic_candles("BTC/USDT", "1m", start="2023-01-01",
                                                                                  days=365),
                      source={"kind": "bench"}, obtained_ms=4_102_444_800_000)


def _request(root: Path):
    """The job and the one request every mode answers: the whole default grid on the cached year."""
    from engine.core.costs import Costs
    from engine.ohlcv import Store
    from research.executors import ScoreJob, ScoreRequest, data_source
    from research.sweep import SweepSpec, grid_of, load_markets

    spec = SweepSpec("sma_cross", "synthetic", ("BTC/USDT",), "1m", costs=Costs())
    strategy, _, combos = grid_of(spec)
    store = Store(root)
    market = load_markets(spec, store, min_bars=max(p.warmup for p in combos) + 2)[0]
    return ScoreJob(strategy, spec.costs, spec.timeframe, spec.engine, data_source(spec, store)), \
        [ScoreRequest(market, tuple(combos))]


def _timed(executor, job, requests, cpu=time.process_time) -> dict:
    """First call, then the best of REPEATS calls: wall time, and CPU time (`cpu()`: every thread of every
    process doing the work)."""
    started = time.perf_counter()
    executor.score(job, requests)
    first = time.perf_counter() - started
    walls, cpus = [], []
    for _ in range(REPEATS):
        wall, used = time.perf_counter(), cpu()
        answers = executor.score(job, requests)
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu() - used)
    metrics = answers[0].scores.metrics
    return {"combos": len(requests[0].combos), "bars": len(requests[0].market.bars), "first_call_s": first,
            "wall_s": min(walls), "cpu_s": min(cpus), "metrics": _digest(metrics)}


def _digest(a: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def local(root: Path, workers: int) -> dict:
    from research.executors import LocalExecutor

    job, requests = _request(root)
    figures = _timed(LocalExecutor(workers), job, requests)
    figures["peak_rss_gb"] = _peak_rss_gb()
    return figures


def dask(root: Path, workers: int) -> dict:
    from research.dask_executor import DaskExecutor

    job, requests = _request(root)
    with DaskExecutor.open(None, workers=workers) as executor:
        started = time.perf_counter()
        executor.client.wait_for_workers(workers)
        start_s = time.perf_counter() - started
        figures = _timed(executor, job, requests,
                         cpu=lambda: time.process_time() + sum(executor.client.run(time.process_time).values()))
        worker_peaks = list(executor.client.run(_peak_rss_gb).values())
        figures.update(tasks=-(-len(requests[0].combos) // _chunk(executor, requests)), cluster_start_s=start_s)
    figures.update(peak_rss_gb=_peak_rss_gb() + sum(worker_peaks), client_peak_rss_gb=_peak_rss_gb(),
                   worker_peak_rss_gb=max(worker_peaks))
    return figures


def _chunk(executor, requests) -> int:
    from research.dask_executor import TASKS_PER_THREAD

    return max(1, -(-sum(len(r.combos) for r in requests) // (TASKS_PER_THREAD * executor.threads)))


def vectorbt() -> dict:
    from bench_sweep import vectorbt as baseline  # this folder is the script's: sys.path[0]

    figures = baseline()
    figures["peak_rss_gb"] = _peak_rss_gb()
    return figures


def child(mode: str, root: Path) -> None:
    runs = {"local 1 core": lambda: local(root, 1), "local all cores": lambda: local(root, None),
            "dask 1 worker": lambda: dask(root, 1), "dask 2 workers": lambda: dask(root, 2), "vectorbt": vectorbt}
    print(json.dumps(runs[mode]()))


def _run_child(mode: str, root: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, mode, str(root)], capture_output=True, text=True, check=True,
                          env=dict(os.environ))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from research.parallel import available_cores

    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        _write_cache(Path(tmp))
        figures = {mode: _run_child(mode, Path(tmp)) for mode in MODES}
    for f in figures.values():
        f["rate"], f["cpu_rate"] = f["combos"] * f["bars"] / f["wall_s"], f["combos"] * f["bars"] / f["cpu_s"]
    for mode, f in figures.items():
        first = f" first call {f['first_call_s']:.2f} s," if "first_call_s" in f else ""
        start = f" cluster start {f['cluster_start_s']:.1f} s, {f['tasks']} tasks," if "cluster_start_s" in f else ""
        rss = (f" (client {f['client_peak_rss_gb']:.2f}, largest worker {f['worker_peak_rss_gb']:.2f})"
               if "worker_peak_rss_gb" in f else "")
        print(f"{mode:15s} {f['combos']:3d} combinations x {f['bars']:,} bars:{start}{first} best wall "
              f"{f['wall_s']:.2f} s = {f['rate'] / 1e6:,.0f} M bar-combinations/s; best CPU {f['cpu_s']:.2f} s = "
              f"{f['cpu_rate'] / 1e6:,.0f} M per CPU-second; peak RSS {f['peak_rss_gb']:.2f} GB{rss}")
    _summary(figures, available_cores())
    print(f"load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after, on {available_cores()} cores: wall "
          f"figures are what other work on the machine left us, CPU figures what the work cost")


def _summary(figures: dict, cores: int) -> None:
    one, every = figures["local 1 core"], figures["local all cores"]
    d1, d2 = figures["dask 1 worker"], figures["dask 2 workers"]
    same = one["metrics"] == every["metrics"] == d1["metrics"] == d2["metrics"]
    print(f"local 1 core, local all cores, dask 1 and 2 workers give identical metrics: {same}")
    print(f"scaling efficiency: local on {cores} cores {every['rate'] / (cores * one['rate']):.0%}; dask on 2 workers "
          f"{d2['rate'] / (2 * d1['rate']):.0%}")
    print(f"Dask overhead (steady wall vs local on as many cores): 1 worker {d1['wall_s'] - one['wall_s']:+.2f} s "
          f"({d1['wall_s'] / one['wall_s']:.2f}x), 2 workers {d2['wall_s'] - every['wall_s']:+.2f} s "
          f"({d2['wall_s'] / every['wall_s']:.2f}x); in CPU time {d1['cpu_s'] / one['cpu_s']:.2f}x and "
          f"{d2['cpu_s'] / every['cpu_s']:.2f}x")
    print("against plain vectorbt: " + ", ".join(f"{mode} {figures[mode]['rate'] / figures['vectorbt']['rate']:.0f}x"
                                                  for mode in MODES[:-1]))


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2])) if len(sys.argv) > 2 else main()
