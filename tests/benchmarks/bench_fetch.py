"""Fetch throughput through the emulator with rate limiting off: candles per second end to end
(HTTP, ccxt's parsing, our checks and the Parquet store). Target >= 50,000 candles/s.

The emulator runs in its own process (`gauntlet emulator serve`), as an exchange would, so its JSON
encoding does not share the fetcher's interpreter lock.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from engine.ohlcv import SeriesKey, Store
from engine.ohlcv.fetch import FetchPlan, fetch
from engine.ohlcv.sample import synthetic_candles
from engine.ohlcv.schema import to_table
from engine.venues.ccxt_client import make_exchange
from emulator_process import serving  # this folder is the script's: sys.path[0]


def main() -> None:
    frame = synthetic_candles("BTC/USDT", "1m", start="2023-01-01", days=365)
    with tempfile.TemporaryDirectory() as tmp:
        candles = Path(tmp) / "candles.parquet"
        import pyarrow.parquet as pq

        pq.write_table(to_table(frame), candles)
        with serving(candles) as url:
            client = make_exchange("binance", api_url=url, rate_limit=False)
            plan = FetchPlan(SeriesKey("synthetic", "BTC/USDT", "1m"), int(frame.index[0].value // 10**6))
            started = time.perf_counter()
            result = fetch(client, Store(Path(tmp) / "cache"), plan)
            elapsed = time.perf_counter() - started
            client.session.close()  # let the server's keep-alive handler go
    print(f"fetch {result.candles:,} 1m candles in {result.requests} requests: {elapsed:.2f} s, "
          f"{result.candles / elapsed:,.0f} candles/s end to end (target >= 50,000)")


if __name__ == "__main__":
    main()
