"""Sweep throughput and peak memory: the 355-combination SMA grid (fast 5..100 step 5, slow 20..400 step 20,
fast < slow) over one year of 1-minute bars through the fused kernel, against a plain vectorbt sweep
(`vbt.MA` crossings into `Portfolio.from_signals`) over a 60-combination subset as the baseline.

Each engine runs in its own process so its peak RSS is its own. Targets: >= 100 M bar-combinations/s and
<= 1.5 GB peak RSS for the full grid. Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np


def _bars():
    from engine.bars import Bars
    from engine.ohlcv.sample import synthetic_candles

    return Bars.from_frame(synthetic_candles("BTC/USDT", "1m", start="2023-01-01", days=365))


def _grid():
    from engine.strategy import load_strategy

    strategy = load_strategy("sma_cross")
    return strategy, list(strategy.grid_params())


def fused() -> dict:
    from engine.execution import Costs
    from research.sweep import score_combos

    bars, (strategy, combos) = _bars(), _grid()
    score_combos(strategy, bars[:5_000], combos[:2], Costs(), "1m")  # load the compiled kernels
    started = time.perf_counter()
    scores = score_combos(strategy, bars, combos, Costs(), "1m")
    wall = time.perf_counter() - started
    return {"combos": len(combos), "bars": len(bars), "wall_s": wall, "best_sharpe": float(np.nanmax(scores.metrics[:, 2]))}


def vectorbt() -> dict:
    import vectorbt as vbt

    from engine.execution import Costs

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
    started = time.perf_counter()
    sharpe = run(len(bars), subset)
    wall = time.perf_counter() - started
    return {"combos": len(subset), "bars": len(bars), "wall_s": wall, "best_sharpe": float(np.nanmax(sharpe))}


def child(mode: str) -> None:
    result = {"fused": fused, "vectorbt": vectorbt}[mode]()
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps(result))


def main() -> None:
    figures = {}
    for mode in ("fused", "vectorbt"):
        done = subprocess.run([sys.executable, __file__, mode], capture_output=True, text=True, check=True)
        figures[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    for mode, f in figures.items():
        rate = f["combos"] * f["bars"] / f["wall_s"]
        f["rate"] = rate
        print(f"{mode:9s} {f['combos']:4d} combinations x {f['bars']:,} bars: {f['wall_s']:.2f} s, "
              f"{rate / 1e6:,.1f} M bar-combinations/s, peak RSS {f['peak_rss_gb']:.2f} GB")
    print(f"fused / plain vectorbt throughput: {figures['fused']['rate'] / figures['vectorbt']['rate']:.0f}x "
          f"(targets: >= 100 M/s and <= 1.5 GB for the full grid)")


if __name__ == "__main__":
    child(sys.argv[1]) if len(sys.argv) > 1 else main()
