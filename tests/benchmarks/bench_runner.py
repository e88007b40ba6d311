"""The paper runner's figures (issue 11): decision latency, memory over a long accelerated run, recovery after a
kill. No network: a paper session (`engine.live.runner.paper_session`, sma_cross 5/20 on BTC/USDT 1m, the
journal's SQLite file in WAL mode with synchronous=FULL) is driven through `Session.on_candle` one candle after
another as fast as it goes, with real 1m candles from ../shared/data (a synthetic series when they are absent).
Logs are rendered as the runner renders them (JSON lines) and written to /dev/null.

- Decision latency, two figures per order, from `time.perf_counter_ns` stamps: when `on_candle` is called for a
  candle (the runner has seen it close) and when the order reaches the venue's `submit` (a wrapper around the
  paper venue stamps it). "seen -> sent" is within one call: the candle at whose open the order goes out (the
  bar opens, the decision's risk check and sizing, the intent journaled and synced, the submit). "close ->
  sent" runs from the call for the candle whose close decided the order to the submit in the next call, the
  next candle handed over at once: the strategy on the trailing window, that candle's journal transaction
  (events, mark, heartbeat, a snapshot every 100), then the next call up to the submit. Target: p99 <= 5 ms.
  (A session sends what a close decided when it is handed the next candle, as replay's bar-by-bar driver acts at
  the next bar's open: on a live feed that call comes once that next candle has closed, a bar later. "close ->
  sent" is the runner's own work, without that wait.) Also the whole `on_candle`, per candle.
- Memory: the process's RSS (VmRSS) before the first candle, after 1,000 (imports, JIT and caches warm) and
  every 25,000 up to 100,000; the journal of that run sits on tmpfs (/dev/shm) so it takes minutes, not hours
  of fsync. Target: flat.
- Recovery: the journal of the latency run (at least 1,000 orders, on disk) is left as a SIGKILL leaves it, 99
  candles after its last snapshot (the worst case at snapshot_every 100); timed: `Journal.open`, a new session,
  `restore_session`, `first_needed_ms` and `resume_session` (re-drive, checked against the journal), as
  `gauntlet run` starts. The recovered books are checked equal to the killed session's.

Printed, never asserted against a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from engine.core.commands import SubmitOrder
from engine.core.events import Event
from engine.core.market_rules import DEFAULT_SPOT, MarketRules
from engine.core.matching import Candle
from engine.live import DataDigest, Deployment, GateResult, GateThresholds, Journal, Venue
from engine.live.cache import LiveCache
from engine.live.paper import PaperVenue
from engine.live.runner import paper_session, session_plan
from engine.live.session import Session
from engine.live.startup import first_needed_ms, restore_session, resume_session
from engine.logs import configure_logging
from engine.ohlcv import SeriesKey, Store
from engine.ohlcv.sample import synthetic_candles
from engine.ohlcv.schema import frame_from_arrays
from engine.spec import MarketSpec, RunSpec, StrategySpec
from engine.strategy.bars import Bars
from engine.strategy.contract import load_strategy

SHARED_1M = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_BTC-USDT_1m.parquet"
KEY = SeriesKey("binance", "BTC/USDT", "1m")
HISTORY = 400  # candles before the first traded: the window's warm-up
LATENCY_CANDLES = 20_099  # 99 after the last snapshot (every 100): recovery re-drives the most it ever does
MIN_ORDERS = 1_000  # journaled before the kill
LONG_CANDLES = 100_000
MARKS = (1_000, 25_000, 50_000, 75_000, 100_000)


class StampedVenue(PaperVenue):
    """The paper venue, stamping when each order reaches it (and which candle's close decided it)."""

    def __init__(self, venue: PaperVenue) -> None:
        super().__init__(venue.sim)
        self.sent: list[tuple[int, int]] = []  # (perf_counter_ns, decided bar), emptied by the driver each candle

    async def submit(self, command: SubmitOrder) -> list[Event]:
        self.sent.append((time.perf_counter_ns(), command.order.decided_bar))
        return await super().submit(command)


class Latency:
    """Nanoseconds per order (seen -> sent, close -> sent) and per candle (the whole `on_candle`), in arrays made
    before the run, so measuring adds nothing to the memory measured."""

    def __init__(self, candles: int) -> None:
        self.seen, self.close, self.candle = (np.zeros(candles, dtype=np.int64) for _ in range(3))
        self.orders = self.closes = self.candles = 0

    def order(self, seen_ns: int, close_ns: int | None) -> None:
        self.seen[self.orders] = seen_ns
        self.orders += 1
        if close_ns is not None:
            self.close[self.closes] = close_ns
            self.closes += 1

    def line(self, label: str) -> str:
        def pcts(ns: np.ndarray) -> str:
            p50, p99, top = np.percentile(ns / 1e6, [50, 99, 100])
            return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {top:.1f} ms"
        return (f"{label}: {self.orders:,} orders; seen -> sent {pcts(self.seen[:self.orders])}; close -> sent "
                f"(back to back) {pcts(self.close[:self.closes])} (target p99 <= 5 ms); a whole candle "
                f"{pcts(self.candle[:self.candles])}")


def candles() -> tuple[Bars, str]:
    if SHARED_1M.is_file():
        table = pq.read_table(SHARED_1M)
        frame = frame_from_arrays(table.column("timestamp").to_numpy(), {
            c: table.column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")})
        return Bars.from_frame(frame), f"real BTC/USDT 1m candles ({SHARED_1M.name})"
    return Bars.from_frame(synthetic_candles("BTC/USDT", "1m", start="2023-01-01", days=75)), "synthetic 1m candles"


def candle(bars: Bars, i: int) -> Candle:
    return Candle(int(bars.ts_ms[i]), float(bars.open[i]), float(bars.high[i]), float(bars.low[i]),
                  float(bars.close[i]), float(bars.volume[i]))


def deployment() -> Deployment:
    """A paper deployment of sma_cross 5/20 on BTC/USDT 1m with the spec's defaults, as `gauntlet promote` makes."""
    source = Path(load_strategy("sma_cross").module.__file__)
    spec = RunSpec(strategy=StrategySpec(name="sma_cross", ref="sma_cross", path=str(source), sha256="0" * 64),
                   params={"fast": 5, "slow": 20}, market=MarketSpec(exchange="binance", symbol="BTC/USDT",
                                                                     timeframe="1m"))
    return Deployment(name="bench-runner", version=1, created="2026-01-02T03:04:05+00:00",
                      venue=Venue(kind="paper", exchange="binance"), spec=spec, thresholds=GateThresholds(),
                      gates=[GateResult.compare("DSR", 0.97, ">=", 0.95)], runs=["20260101T000000Z-x-abcdef0"],
                      data=DataDigest(series="binance BTC/USDT 1m", rows=1, sha256="a" * 64))


def new_session(journal: Journal, bars: Bars | None = None) -> Session:
    """A paper session on the stamping venue, its window filled from `bars`' history (None: left to recovery)."""
    rules = MarketRules.from_ccxt({**DEFAULT_SPOT, "symbol": "BTC/USDT"})
    session = paper_session(session_plan(deployment(), KEY, rules, snapshot_every=100), journal)
    session.venue = StampedVenue(session.venue)
    if bars is not None:
        session.window.fill(bars[:HISTORY])
    return session


def rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, where VmRSS is not to be had


async def drive(session: Session, bars: Bars, n: int, latency: Latency, rss: dict[int, float] | None = None) -> None:
    """`n` candles, one after another, stamping each call; RSS at `MARKS` when asked."""
    venue, prev = session.venue, (-1, 0)
    for k in range(n):
        t, started = session.t, time.perf_counter_ns()
        await session.on_candle(candle(bars, HISTORY + k))
        latency.candle[k], latency.candles = time.perf_counter_ns() - started, k + 1
        for sent, decided in venue.sent:
            latency.order(sent - started, sent - prev[1] if decided == prev[0] else None)
        venue.sent.clear()
        prev = (t, started)
        if rss is not None and k + 1 in MARKS:
            gc.collect()
            rss[k + 1] = rss_mb()


async def recover(path: Path, store: Store) -> tuple[Session, dict[str, float], int]:
    """`gauntlet run`'s start-up on a killed journal, timed step by step."""
    walls, started = {}, time.perf_counter()
    journal = Journal.open(path)
    walls["open"] = time.perf_counter() - started
    session = new_session(journal)  # its window from the cache, as the runner's
    walls["session"] = time.perf_counter() - started - sum(walls.values())
    seq = restore_session(session)
    first_needed_ms(session, seq)
    walls["snapshot"] = time.perf_counter() - started - sum(walls.values())
    redriven = await resume_session(session, LiveCache(store, KEY), seq)
    walls["re-drive"] = time.perf_counter() - started - sum(walls.values())
    return session, walls, redriven


def fsync_line(root: Path, n: int = 200) -> str:
    """What one durable commit costs on the disk under `root`: an fsync after a small write, p50 and p99."""
    waits = []
    with open(root / "fsync.probe", "wb") as probe:
        for _ in range(n):
            probe.write(b"x" * 256)
            probe.flush()
            started = time.perf_counter_ns()
            os.fsync(probe.fileno())
            waits.append(time.perf_counter_ns() - started)
    p50, p99 = np.percentile(np.array(waits) / 1e6, [50, 99])
    return f"fsync of a small write there: p50 {p50:.2f} ms, p99 {p99:.2f} ms (an order's intent is one)"


def latency_and_recovery(bars: Bars, root: Path) -> None:
    path, latency = root / "latency.sqlite", Latency(LATENCY_CANDLES)
    killed = new_session(Journal.open(path), bars)
    asyncio.run(drive(killed, bars, LATENCY_CANDLES, latency))
    orders, events = len(killed.journal.orders("bench-runner")), killed.journal.last_seq("bench-runner")
    print(latency.line(f"journal on disk ({root}), {LATENCY_CANDLES:,} candles") + f"; {fsync_line(root)}",
          flush=True)
    killed.journal.close()  # no snapshot, no stopped state: as SIGKILL leaves it
    store = Store(root / "data")
    store.write(KEY, bars.to_frame(), source={"kind": "bench"}, obtained_ms=4_102_444_800_000)
    session, walls, redriven = asyncio.run(recover(path, store))
    same = json.dumps(session.state(), sort_keys=True) == json.dumps(killed.state(), sort_keys=True)
    assert same and orders >= MIN_ORDERS and session.t == killed.t, "recovery did not give the killed session's books"
    steps = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in walls.items())
    print(f"recovery after a kill, journal with {orders:,} orders and {events:,} events, {redriven} candles after "
          f"its last snapshot: {sum(walls.values()) * 1e3:.0f} ms ({steps}); books equal the killed session's",
          flush=True)
    session.journal.close()


def long_run(bars: Bars, root: Path) -> None:
    path, latency, rss = root / "long.sqlite", Latency(LONG_CANDLES), {}
    session = new_session(Journal.open(path), bars)
    gc.collect()
    rss[0] = rss_mb()
    started = time.perf_counter()
    asyncio.run(drive(session, bars, LONG_CANDLES, latency, rss))
    wall = time.perf_counter() - started
    kept = session.journal.latest_snapshot("bench-runner")
    size = sum(p.stat().st_size for p in root.glob("long.sqlite*"))
    print(latency.line(f"journal on tmpfs ({root}), {LONG_CANDLES:,} candles") + f"; {fsync_line(root)}")
    print(f"{LONG_CANDLES:,} candles in {wall:.0f} s ({LONG_CANDLES / wall:,.0f} candles/s, the whole session: "
          f"journal included); RSS " + ", ".join(f"{rss[k]:.1f} MB at {k:,}" for k in sorted(rss)) +
          f" candles: {rss[LONG_CANDLES] - rss[MARKS[0]]:+.1f} MB from 1,000 to {LONG_CANDLES:,} (target: flat)")
    fills = session.journal.count_fills("bench-runner")
    print(f"journal after {LONG_CANDLES:,} candles: {size / 1e6:.1f} MB with {fills:,} fills; latest snapshot "
          f"{len(json.dumps(kept.state)):,} bytes", flush=True)
    session.journal.close()


def main() -> None:
    bars, what = candles()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"paper session, sma_cross 5/20, {what}; logs rendered as JSON to /dev/null; {os.cpu_count()} cores, "
          f"load average {load}", flush=True)
    configure_logging()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        with tempfile.TemporaryDirectory(prefix="bench-runner-") as disk:
            latency_and_recovery(bars, Path(disk))
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(prefix="bench-runner-", dir=shm) as tmpfs:
            long_run(bars, Path(tmpfs))


if __name__ == "__main__":
    main()
