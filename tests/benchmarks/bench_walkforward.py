"""Walk-forward of 12 folds over the 355-combination SMA grid on one year of 1-minute bars: wall time and
peak RSS (rolling, 60-day in-sample, 25-day out-of-sample windows, 1-day purge). Printed, not asserted."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from engine.core.costs import Costs
from engine.ohlcv import SeriesKey, Store
from engine.ohlcv.sample import synthetic_candles
from research.splits import SplitSpec
from research.sweep import SweepSpec
from research.walkforward import WalkForwardSpec, run_walkforward


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        store.write(SeriesKey("synthetic", "BTC/USDT", "1m"), synthetic_candles("BTC/USDT", "1m", days=365),
                    source={"kind": "bench"}, obtained_ms=4_102_444_800_000)
        spec = WalkForwardSpec(SweepSpec("sma_cross", "synthetic", ("BTC/USDT",), "1m", costs=Costs()),
                               SplitSpec(n_folds=12, mode="rolling", is_size="60D", oos_size="25D", purge="1D"))
        started = time.perf_counter()
        outcome = run_walkforward(spec, store=store)
        wall = time.perf_counter() - started
    summary = outcome.summary["BTC/USDT"]
    print(f"walk-forward 12 folds x 355 combinations on {len(outcome.markets[0].bars):,} 1m bars: {wall:.1f} s, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB; "
          f"candidate {summary['candidate']}, stitched OOS sharpe {summary['stitched_oos']['sharpe']:.2f}")


if __name__ == "__main__":
    main()
