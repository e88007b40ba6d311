"""The candle feed: one REST poll per (exchange, symbol, timeframe), shared by every deployment of the process
that trades it, aligned to candle boundaries.

A candle counts as closed only when the exchange has moved past it: an answer's newest kline may be the one in
progress (Binance serves it part way), so only candles with a newer one beside them are handed on, and nothing
ever acts on an in-progress candle. Polls ask for everything from the next candle expected, so a candle missed
while the process slept or was down is fetched, never skipped; a range the exchange has no candles for (an
outage) is a gap, logged with its size. A candle that arrives later than `stale_after_ms` after its close is
not fresh: the sessions take no new entries on it (exits still go), the feed logs `feed.stale` once, and
`feed.fresh` when candles come on time again.

`CandleTracker` is the pure part (what an answer adds); `CandleFeed` does the waiting and the requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import ccxt
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from engine.core.matching import Candle
from engine.ohlcv.layout import SeriesKey

__all__ = ["Arrival", "CandleFeed", "CandleTracker", "ExchangeClock", "FeedConfig", "FeedStopped"]

log = structlog.get_logger("gauntlet.feed")
_RETRYABLE = (ccxt.NetworkError, ccxt.ExchangeNotAvailable, ccxt.RequestTimeout, ccxt.BadResponse)


class FeedStopped(Exception):
    """The runner asked the feed to stop while it waited."""


class ExchangeTime(Protocol):
    def now_ms(self) -> int: ...


class ExchangeClock:
    """The exchange's time as this process reads it: its server time at the last calibration plus the wall time
    since, times `speed` (1 for a real exchange; an accelerated emulator's speed in a rehearsal). Only waiting
    uses it: whether a candle closed is the exchange's answer, never this clock's."""

    def __init__(self, speed: float = 1.0, wall: Callable[[], float] = time.monotonic) -> None:
        if not speed > 0:
            raise ValueError(f"the exchange clock's speed must be positive, got {speed}")
        self.speed, self._wall = speed, wall
        self._anchor_ms, self._anchor_wall = int(time.time() * 1000), wall()

    def calibrate(self, server_ms: int, round_trip_s: float = 0.0) -> None:
        """The exchange said `server_ms`, half a round trip ago."""
        self._anchor_ms = int(server_ms + round_trip_s / 2 * 1000 * self.speed)
        self._anchor_wall = self._wall()

    def now_ms(self) -> int:
        return self._anchor_ms + int((self._wall() - self._anchor_wall) * 1000 * self.speed)


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """How a feed polls: `stale_after_bars` of lateness after a candle's close make it stale; the first poll
    goes `first_poll_rate` of a bar after the boundary, a poll that found nothing new is repeated after
    `retry_rate` of a bar (at most `max_retry_wall_s` and at least `min_wall_s` of wall time)."""

    stale_after_bars: float = 1.0
    first_poll_rate: float = 0.002
    retry_rate: float = 0.01
    max_retry_wall_s: float = 1.0
    min_wall_s: float = 0.005
    page_limit: int = 1000
    attempts: int = 8


@dataclass(frozen=True, slots=True)
class Arrival:
    """What one poll added: closed candles not seen before, in order, each with how late it came (exchange ms
    after its close), and the gaps before them (open-time ranges [from, to) the exchange has no candle for)."""

    candles: tuple[Candle, ...]
    late_ms: tuple[int, ...]
    gaps: tuple[tuple[int, int], ...]


class CandleTracker:
    """Which candles of the exchange's answers are closed and new: the pure state of a feed."""

    def __init__(self, bar_ms: int, next_open_ms: int) -> None:
        self.bar_ms, self.next_open_ms = bar_ms, next_open_ms

    @property
    def due_ms(self) -> int:
        """When the next candle expected closes (exchange time)."""
        return self.next_open_ms + self.bar_ms

    def take(self, rows: Sequence[Sequence[float]], now_ms: int) -> Arrival:
        """The closed candles of an answer (rows of [open time, o, h, l, c, v], oldest first) from the next one
        expected on; a candle is closed when the answer holds a newer one."""
        if not rows:
            return Arrival((), (), ())
        newest = int(rows[-1][0])
        candles, late, gaps = [], [], []
        for row in rows:
            ts = int(row[0])
            if ts < self.next_open_ms or ts >= newest:
                continue
            if ts > self.next_open_ms:
                gaps.append((self.next_open_ms, ts))
            candles.append(Candle(ts, float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5])))
            late.append(max(0, now_ms - (ts + self.bar_ms)))
            self.next_open_ms = ts + self.bar_ms
        return Arrival(tuple(candles), tuple(late), tuple(gaps))

    def late_ms(self, now_ms: int) -> int:
        """How far past its close the next candle expected is (0: not yet due)."""
        return max(0, now_ms - self.due_ms)


class CandleFeed:
    """Polls one market's closed candles through ccxt's async client, at the candle boundaries of `clock`."""

    def __init__(self, key: SeriesKey, client: Any, clock: ExchangeTime, next_open_ms: int,
                 config: FeedConfig = FeedConfig()) -> None:
        self.key, self.client, self.clock, self.config = key, client, clock, config
        self.bar_ms = key.timeframe_ms
        self.tracker = CandleTracker(self.bar_ms, next_open_ms)
        self.speed = float(getattr(clock, "speed", 1.0))
        self.stale = False
        self.requests = 0
        self.log = log.bind(feed=str(key))

    @property
    def stale_after_ms(self) -> int:
        return int(self.config.stale_after_bars * self.bar_ms)

    async def next(self, stop: asyncio.Event) -> Arrival:
        """Wait for the next closed candle(s) and return them; raises `FeedStopped` once `stop` is set."""
        config = self.config
        await self._wait_until(self.tracker.due_ms + int(self.bar_ms * config.first_poll_rate), stop)
        while True:
            arrival = self.tracker.take(await self._poll(), self.clock.now_ms())
            if arrival.candles:
                self._report(arrival)
                return arrival
            late = self.tracker.late_ms(self.clock.now_ms())
            if late > self.stale_after_ms and not self.stale:
                self.stale = True
                self.log.warning("feed.stale", expected_open_ms=self.tracker.next_open_ms, late_ms=late,
                                 stale_after_ms=self.stale_after_ms, effect="no new entries until fresh candles")
            retry_s = min(self.bar_ms * config.retry_rate / self.speed / 1000, config.max_retry_wall_s)
            await self._sleep(max(retry_s, config.min_wall_s), stop)

    def fresh(self, late_ms: int) -> bool:
        return late_ms <= self.stale_after_ms

    def _report(self, arrival: Arrival) -> None:
        for lo, hi in arrival.gaps:
            self.log.warning("feed.gap", from_ms=lo, to_ms=hi, missing=(hi - lo) // self.bar_ms,
                             detail="the exchange has no candles there; trading goes on from the next one")
        fresh = self.fresh(arrival.late_ms[-1])
        if fresh and self.stale:
            self.log.info("feed.fresh", open_ms=arrival.candles[-1].ts_ms, late_ms=arrival.late_ms[-1])
        elif not fresh and not self.stale:
            self.log.warning("feed.stale", open_ms=arrival.candles[-1].ts_ms, late_ms=arrival.late_ms[-1],
                             stale_after_ms=self.stale_after_ms, effect="no new entries until fresh candles")
        self.stale = not fresh

    async def _poll(self) -> list[list[float]]:
        """Every candle from the next one expected, newest last, retried on network trouble."""
        since = self.tracker.next_open_ms
        async for attempt in AsyncRetrying(retry=retry_if_exception_type(_RETRYABLE), reraise=True,
                                           stop=stop_after_attempt(self.config.attempts),
                                           wait=wait_random_exponential(multiplier=0.2, max=10)):
            with attempt:
                self.requests += 1
                return await self.client.fetch_ohlcv(self.key.symbol, self.key.timeframe, since=since,
                                                     limit=self.config.page_limit)
        raise AssertionError("unreachable")  # tenacity re-raises the last error

    async def _wait_until(self, ts_ms: int, stop: asyncio.Event) -> None:
        remaining_ms = ts_ms - self.clock.now_ms()
        if remaining_ms > 0:
            await self._sleep(remaining_ms / self.speed / 1000, stop)
        elif stop.is_set():
            raise FeedStopped

    @staticmethod
    async def _sleep(seconds: float, stop: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise FeedStopped
