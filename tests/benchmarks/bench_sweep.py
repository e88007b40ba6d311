"""Sweep throughput and peak memory: the 355-combination SMA grid (fast 5..100 step 5, slow 20..400 step 20,
fast < slow) over one year of 1-minute bars through the fused kernel (`score_combos`, moving averages
included) on one core, on all local cores (numba threads), and on two worker processes of one thread each
(the alternative to threads), against a plain vectorbt sweep (`vbt.MA` crossings into
`Portfolio.from_signals`) over a 60-combination subset as the baseline, as a ratio of bar-combinations/s.

Each mode runs in its own process so its peak RSS is its own. The first call (compiling, or loading the
compiled kernels from NUMBA_CACHE_DIR) is timed apart from the steady state; a cold compile into an empty
cache is timed once more on its own. Steady state is the best of 3 runs, as wall time and as CPU time
(`time.process_time`, all threads of the process): on a shared machine wall time says what other work let
us have, CPU time what the work cost, and CPU/wall how many cores we actually got. Targets: >= 500 M bar-combinations/s on both cores at <= 1 GB peak RSS.
Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from research.parallel import available_cores

REPEATS = 3
ALL_CORES = f"all {available_cores()} cores"


def _bars():
    from engine.strategy.bars import Bars
    from engine.ohlcv.sample import synthetic_candles

    return Bars.from_frame(synthetic_candles("BTC/USDT", "1m", start="2023-01-01", days=365))


def _grid():
    from engine.strategy.contract import load_strategy

    strategy = load_strategy("sma_cross")
    return strategy, list(strategy.grid_params())


def _best_of(run, repeats: int = REPEATS) -> tuple[float, float, object]:
    """(best wall s, best CPU s, last result) over `repeats` runs."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def fused(workers: int) -> dict:
    from engine.core.costs import Costs
    from research.sweep import score_combos

    bars, (strategy, combos) = _bars(), _grid()
    started = time.perf_counter()
    score_combos(strategy, bars[:5_000], combos[:2], Costs(), "1m", workers=workers)  # compile or load the kernels
    first = time.perf_counter() - started
    wall, cpu, scores = _best_of(lambda: score_combos(strategy, bars, combos, Costs(), "1m", workers=workers))
    return {"combos": len(combos), "bars": len(bars), "first_call_s": first, "wall_s": wall, "cpu_s": cpu,
            "metrics": _digest(scores.metrics)}


def _digest(a: np.ndarray) -> str:
    """A hash of the exact bits, to compare modes run in different processes."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


_half: dict = {}


def _start_half() -> None:
    from engine.core.costs import Costs
    from research.sweep import score_combos

    _half.update(bars=_bars(), grid=_grid())
    strategy, combos = _half["grid"]
    score_combos(strategy, _half["bars"][:5_000], combos[:2], Costs(), "1m", workers=1)


def _score_half(part: tuple[int, int]) -> tuple[np.ndarray, float]:
    from engine.core.costs import Costs
    from research.sweep import score_combos

    strategy, combos = _half["grid"]
    cpu = time.process_time()
    scores = score_combos(strategy, _half["bars"], combos[part[0]:part[1]], Costs(), "1m", workers=1)
    return scores.metrics, time.process_time() - cpu


def processes() -> dict:
    """The grid cut in two halves on two spawned worker processes of one numba thread each."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    bars, (_, combos) = _bars(), _grid()
    halves = [(0, len(combos) // 2), (len(combos) // 2, len(combos))]
    started = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=_start_half) as pool:
        list(pool.map(_score_half, halves))  # workers started, bars built, kernels loaded
        first = time.perf_counter() - started
        walls, cpus = [], []
        for _ in range(REPEATS):
            wall = time.perf_counter()
            done = list(pool.map(_score_half, halves))
            walls.append(time.perf_counter() - wall)
            cpus.append(sum(c for _, c in done))
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    return {"combos": len(combos), "bars": len(bars), "first_call_s": first, "wall_s": min(walls), "cpu_s": min(cpus),
            "metrics": _digest(np.vstack([m for m, _ in done])), "worker_peak_rss_gb": peak_children}


def cold_compile() -> dict:
    """The kernels' first call with an empty NUMBA_CACHE_DIR (set by the parent): the compile time."""
    from engine.core.costs import Costs
    from research.sweep import score_combos

    bars, (strategy, combos) = _bars(), _grid()
    started = time.perf_counter()
    score_combos(strategy, bars[:5_000], combos[:2], Costs(), "1m", workers=2)
    return {"compile_s": time.perf_counter() - started}


def vectorbt() -> dict:
    import vectorbt as vbt

    from engine.core.costs import Costs

    bars, (_, combos) = _bars(), _grid()
    subset = combos[:60]
    costs = Costs()

    def run(n: int, pairs) -> object:
        close = bars.close[:n]
        fast = vbt.MA.run(close, [p.fast for p in pairs], short_name="fast")
        slow = vbt.MA.run(close, [p.slow for p in pairs], short_name="slow")
        entries = fast.ma_crossed_above(slow).to_numpy()
        exits = fast.ma_crossed_below(slow).to_numpy()
        shift = lambda a: np.vstack([np.zeros((1, a.shape[1]), bool), a[:-1]])  # noqa: E731 - decide at close, fill at next open
        pf = vbt.Portfolio.from_signals(close[:, None], shift(entries), shift(exits), price=bars.open[:n, None],
                                        fees=costs.fee_rate, slippage=costs.slippage_rate, init_cash=costs.init_cash,
                                        freq="1min")
        return pf.sharpe_ratio()

    run(5_000, subset[:2])  # JIT and caches warm, as in a notebook session
    wall, cpu, _ = _best_of(lambda: run(len(bars), subset), repeats=1)
    return {"combos": len(subset), "bars": len(bars), "wall_s": wall, "cpu_s": cpu}


MODES = {"one core": lambda: fused(1), ALL_CORES: lambda: fused(available_cores()), "2 processes": processes,
         "cold compile": cold_compile, "vectorbt": vectorbt}


def child(mode: str) -> None:
    result = MODES[mode]()
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps(result))


def _run_child(mode: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, __file__, mode], capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    env = dict(os.environ)
    figures = {mode: _run_child(mode, env) for mode in ("one core", ALL_CORES, "2 processes", "vectorbt")}
    with tempfile.TemporaryDirectory() as empty:
        cold = _run_child("cold compile", {**env, "NUMBA_CACHE_DIR": empty})
    for mode, f in figures.items():
        f["rate"], f["cpu_rate"] = f["combos"] * f["bars"] / f["wall_s"], f["combos"] * f["bars"] / f["cpu_s"]
        first = f" first call {f['first_call_s']:.2f} s," if "first_call_s" in f else ""
        print(f"{mode:12s} {f['combos']:4d} combinations x {f['bars']:,} bars:{first} best wall {f['wall_s']:.2f} s = "
              f"{f['rate'] / 1e6:,.0f} M bar-combinations/s; best CPU {f['cpu_s']:.2f} s = {f['cpu_rate'] / 1e6:,.0f} M "
              f"per CPU-second (CPU/wall {f['cpu_s'] / f['wall_s']:.2f} cores); peak RSS {f['peak_rss_gb']:.2f} GB"
              + (f" (largest worker {f['worker_peak_rss_gb']:.2f} GB)" if "worker_peak_rss_gb" in f else ""))
    one, all_, base = figures["one core"], figures[ALL_CORES], figures["vectorbt"]
    same = one["metrics"] == all_["metrics"] == figures["2 processes"]["metrics"]
    print(f"one core, {ALL_CORES} and 2 processes give identical metrics: {same}")
    print(f"cold compile of the kernels (empty NUMBA_CACHE_DIR): {cold['compile_s']:.1f} s")
    print(f"{ALL_CORES} / one core (wall): {all_['rate'] / one['rate']:.2f}x; fused / plain vectorbt "
          f"(bar-combinations/s, wall): one core {one['rate'] / base['rate']:.0f}x, {ALL_CORES} "
          f"{all_['rate'] / base['rate']:.0f}x (targets: >= 500 M/s on both cores and <= 1 GB peak RSS)")


if __name__ == "__main__":
    child(sys.argv[1]) if len(sys.argv) > 1 else main()
