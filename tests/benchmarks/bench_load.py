"""Load one year of 1-minute candles from the cache, against pandas reading the same rows from CSV.

Targets: <= 25 ms per load, every file verified (size and sha256) against the manifest (its rows were
checked when it was written), and
>= 10x faster than the CSV read. The cost of verification is shown against an unverified decode of the
same files in the same run. Figures are printed, never asserted.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from engine.ohlcv import SeriesKey, Store, load
from engine.ohlcv.sample import synthetic_candles
from engine.ohlcv.schema import from_tables


def best_of(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    frame = synthetic_candles("BTC/USDT", "1m", start="2023-01-01", days=365)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = SeriesKey("synthetic", "BTC/USDT", "1m")
        Store(root).write(key, frame, source={"kind": "bench"}, obtained_ms=4_102_444_800_000)
        csv = root / "candles.csv"
        flat = frame.reset_index()
        flat["timestamp"] = frame.index.as_unit("ms").asi8
        flat.to_csv(csv, index=False)

        def from_csv() -> pd.DataFrame:
            raw = pd.read_csv(csv)
            return raw.set_index(pd.to_datetime(raw.pop("timestamp"), unit="ms", utc=True))

        loaded = load("synthetic", "BTC/USDT", "1m", root=root)
        assert len(loaded) == len(frame) == len(from_csv())
        cache_best, cache_median = best_of(lambda: load("synthetic", "BTC/USDT", "1m", root=root), 15)
        csv_best, csv_median = best_of(from_csv, 5)
        raw_best, _ = best_of(lambda: Store(root).read(key), 15)
        folder, parts = key.folder(root), Store(root).require(key).partitions.values()
        unverified_best, _ = best_of(lambda: from_tables([pq.ParquetFile(folder / p.file).read() for p in parts]), 15)
        quarter_best, _ = best_of(lambda: load("synthetic", "BTC/USDT", "1m", "2023-04-01", "2023-07-01", root=root), 15)
    print(f"load 1y of 1m candles ({len(frame):,} rows, every file verified): best {cache_best * 1e3:.1f} ms, "
          f"median {cache_median * 1e3:.1f} ms (target <= 25 ms)")
    print(f"  of which verified read (size + sha256 + decode, Store.read): best {raw_best * 1e3:.1f} ms; the same "
          f"files decoded unverified: {unverified_best * 1e3:.1f} ms")
    print(f"pandas read_csv of the same rows:        best {csv_best * 1e3:.1f} ms, median {csv_median * 1e3:.1f} ms")
    print(f"cache vs CSV: {csv_best / cache_best:.1f}x faster (target >= 10x)")
    print(f"load one quarter (3 of 12 monthly files): best {quarter_best * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
