"""The Parquet cache as the runner uses it: warm-up fills what is missing first (the same paginated, retried
`engine.ohlcv.fetch` the CLI uses), the windows and the candles recovery re-drives are read from it, and the
candles the feed brings are written back through the store's writer, in batches (at most one write a second),
never over a cached candle that differs (a conflict is logged and the cached candle kept).

A candle the process received but had not written when it died is simply missing from the cache: the next
start's warm-up fetches it again, because the manifest never recorded it as answered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from engine.core.matching import Candle
from engine.ohlcv.fetch import FetchError, FetchPlan, fetch
from engine.ohlcv.layout import SeriesKey
from engine.ohlcv.schema import frame_from_arrays, ts_ms_of
from engine.ohlcv.store import Store
from engine.strategy.bars import Bars

__all__ = ["LiveCache"]

log = structlog.get_logger("gauntlet.cache")


@dataclass
class LiveCache:
    """One series of the cache, kept current by the runner."""

    store: Store
    key: SeriesKey
    flush_s: float = 1.0
    source: dict[str, Any] = field(default_factory=dict)  # what the manifest records about the runner's rows
    pending: list[Candle] = field(default_factory=list)
    answered_from_ms: int | None = None  # the open time the exchange answered from, for the manifest
    last_flush: float = 0.0

    def fill(self, client: Any, since_ms: int) -> int:
        """Fetch what the cache lacks from `since_ms` to the last closed candle (blocking: call it in a thread);
        returns the candles fetched. The market's description goes into the manifest with the rows."""
        try:
            result = fetch(client, self.store, FetchPlan(self.key, since_ms))
        except FetchError as exc:
            if "nothing to fetch" in str(exc):
                return 0
            raise
        return result.candles

    def bars(self, start_ms: int, end_ms: int) -> Bars:
        """The cached candles with open time in [start_ms, end_ms)."""
        if self.store.manifest(self.key) is None:
            return Bars.from_frame(frame_from_arrays(np.empty(0, dtype=np.int64), np.empty((0, 5))))
        return Bars.from_frame(self.store.load(self.key, start_ms, end_ms))

    def candles(self, start_ms: int, end_ms: int) -> dict[int, Candle]:
        """The cached candles in [start_ms, end_ms) by open time."""
        frame = self.store.load(self.key, start_ms, end_ms) if self.store.manifest(self.key) is not None else None
        if frame is None or frame.empty:
            return {}
        values = frame.to_numpy(dtype=np.float64).tolist()
        return {int(ts): Candle(int(ts), *row) for ts, row in zip(ts_ms_of(frame).tolist(), values, strict=True)}

    def add(self, candles: tuple[Candle, ...], answered_from_ms: int) -> None:
        """Candles the feed brought (the exchange answered every open time from `answered_from_ms` to the last)."""
        if self.answered_from_ms is None:
            self.answered_from_ms = answered_from_ms
        self.pending.extend(candles)

    def flush(self, now_ms: int, *, force: bool = False) -> None:
        """Write what the feed brought since the last write, once a second (or now, with `force`)."""
        if not self.pending or (not force and time.monotonic() - self.last_flush < self.flush_s):
            return
        rows, lo = self.pending, self.answered_from_ms or self.pending[0].ts_ms
        self.pending, self.answered_from_ms, self.last_flush = [], None, time.monotonic()
        frame = frame_from_arrays(np.array([c.ts_ms for c in rows], dtype=np.int64),
                                  np.array([c[1:] for c in rows], dtype=np.float64))
        hi = rows[-1].ts_ms + self.key.timeframe_ms
        try:
            self.store.write(self.key, frame, source={"kind": "runner", **self.source}, obtained_ms=now_ms,
                             fetched=(lo, hi))
        except ValueError as exc:  # ConflictError, QualityError: the cached candles stay as they are
            log.error("cache.refused", series=str(self.key), candles=len(rows), error=str(exc).splitlines()[0])
