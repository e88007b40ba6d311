"""`gauntlet replay` end to end: the whole process (interpreter start, imports, load, signals, the loop,
books, tearsheet, run folder) on one year of 1-minute bars and on one year plus 473,040 more. The marginal
bars/s is the extra bars over the extra seconds: what each further bar costs once start-up is paid. Beside
it, on the same longer window: the inner loop alone (`engine.replay.replay`), and the two halves of the
command in-process (`run_replay`: load, signals, loop, metrics; `write_replay`: books, tearsheet, files), each
as a marginal bars/s, so a slow figure says where its time goes. Synthetic candles in a temporary cache,
the command's defaults (realistic fills, risk rules). Best of three (one run when a run takes over a
minute); printed, never asserted. Target: marginal >= 1,000,000 bars/s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

START, BASE_END, LONG_END = "2023-01-01", "2024-01-01", "2024-11-24T12:00"  # 525,600 and 998,640 minutes
WARM_END = "2023-01-08"
REPLAY = ["sma_cross", "--param", "fast=10", "--param", "slow=30", "--exchange", "synthetic", "--symbol", "BTC/USDT",
          "--timeframe", "1m", "--start", START]
GAUNTLET = Path(sys.executable).parent / "gauntlet"


def best_of(run: Callable[[], None], tries: int = 3, patience_s: float = 60.0) -> float:
    walls: list[float] = []
    while len(walls) < tries and not (walls and min(walls) > patience_s):
        started = time.perf_counter()
        run()
        walls.append(time.perf_counter() - started)
    return min(walls)


def command(end: str, env: dict[str, str]) -> None:
    subprocess.run([str(GAUNTLET), "replay", *REPLAY, "--end", end], env=env, check=True, stdout=subprocess.DEVNULL)


def cache(root: Path) -> None:
    from engine.ohlcv import SeriesKey, Store
    from engine.ohlcv.sample import synthetic_candles

    frame = synthetic_candles("BTC/USDT", "1m", start=START, days=700)
    Store(root).write(SeriesKey("synthetic", "BTC/USDT", "1m"), frame, source={"kind": "bench"},
                      obtained_ms=4_102_444_800_000)


def in_process(end: str, reports: Path) -> tuple[int, float, float, float]:
    """(bars, inner loop s, run_replay s, write_replay s) for the window ending at `end`."""
    from engine.core.market_rules import rules_from_sources
    from engine.ohlcv import Store
    from engine.replay import replay
    from research.replay_run import run_replay, write_replay
    from research.replay_spec import ReplayRequest, resolve

    flags = {"exchange": "synthetic", "symbol": "BTC/USDT", "timeframe": "1m", "start": START, "end": end}
    resolved = resolve(ReplayRequest("sma_cross", "fast=10,slow=30", flags=flags))
    outcome = run_replay(resolved.spec, strategy=resolved.strategy)
    bars, spec = outcome.result.bars, resolved.spec
    signals = resolved.strategy.signals(bars, outcome.params)
    rules, _ = rules_from_sources("BTC/USDT", Store().require(outcome.key).sources)
    args = (bars, signals, spec.costs.to_costs(), spec.realism.to_realism(), rules, spec.risk.to_config())
    loop = best_of(lambda: replay(*args))
    whole = best_of(lambda: run_replay(resolved.spec, strategy=resolved.strategy))
    written = best_of(lambda: write_replay(outcome, ["bench"], reports))
    return len(bars), loop, whole, written


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, reports = Path(tmp) / "data", Path(tmp) / "reports"
        env = {**os.environ, "GAUNTLET_DATA_DIR": str(root), "GAUNTLET_REPORTS_DIR": str(reports)}
        os.environ.update(GAUNTLET_DATA_DIR=str(root), GAUNTLET_REPORTS_DIR=str(reports))
        cache(root)
        command(WARM_END, env)  # numba's cache and the page cache, not timed
        walls = {end: best_of(lambda end=end: command(end, env)) for end in (BASE_END, LONG_END)}
        short, long = (in_process(end, reports) for end in (BASE_END, LONG_END))
    extra = long[0] - short[0]
    marginal = extra / (walls[LONG_END] - walls[BASE_END])
    print(f"gauntlet replay end to end, {short[0]:,} bars {walls[BASE_END]:.2f} s, {long[0]:,} bars "
          f"{walls[LONG_END]:.2f} s: marginal {marginal:>12,.0f} bars/s; inner loop {long[0] / long[1]:>12,.0f} "
          "bars/s (target >= 1,000,000 marginal)")
    print(f"  in-process marginal: run_replay {extra / (long[2] - short[2]):,.0f} bars/s, write_replay "
          f"{extra / (long[3] - short[3]):,.0f} bars/s")


if __name__ == "__main__":
    main()
