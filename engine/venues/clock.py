"""Clocks: the one thing (with the venue) that differs between replay, paper and live.

A clock says what time it is and waits for the next bar to close. Replay uses the bars' own times; paper
and live wait on the wall clock; an accelerated clock runs wall time faster, for rehearsing a live
deployment in minutes. The loopback exchange keeps its time on the same kind of clock, so a test that
moves one moves both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def wait_until(self, ts_ms: int) -> None: ...


class HistoricalClock:
    """Time moves only when told: replay's clock (the close of the last bar replayed, waiting is instant)
    and a test's or the emulator's (`set`, `advance`). Readers on other threads are safe (an int attribute is
    read and written whole); time is moved from one thread. No lock: replay asks twice a bar."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = int(start_ms)

    def now_ms(self) -> int:
        return self._now_ms

    def wait_until(self, ts_ms: int) -> None:
        if ts_ms > self._now_ms:
            self._now_ms = int(ts_ms)

    def set(self, now_ms: int) -> None:
        self._now_ms = int(now_ms)

    def advance(self, ms: int) -> None:
        self._now_ms += int(ms)


@dataclass
class WallClock:
    """Real UTC time; waiting sleeps (the sleeper is a seam for tests)."""

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def wait_until(self, ts_ms: int) -> None:
        remaining = ts_ms - self.now_ms()
        if remaining > 0:
            self.sleep(remaining / 1000)


@dataclass
class AcceleratedClock:
    """Wall time since `start_ms`, run `speed` times faster: an hour of 1m bars in a minute at speed 60.

    `origin_s` is the reading of `clock` at which the time is `start_ms` (default: when the clock is made). With
    `clock=time.time`, two processes that make it with the same start, speed and origin read the same time:
    how a runner follows an emulator served from another process."""

    start_ms: int
    speed: float
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    origin_s: float | None = None
    _origin: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"clock speed must be positive, got {self.speed}")
        self._origin = self.clock() if self.origin_s is None else self.origin_s

    @classmethod
    def candle_every(cls, start_ms: int, candle_ms: int, every_s: float, **kwargs: object) -> AcceleratedClock:
        """A clock on which a candle of `candle_ms` closes every `every_s` wall seconds (1m every 0.1 s: speed 600)."""
        if not every_s > 0:
            raise ValueError(f"a candle must close every positive number of seconds, got {every_s}")
        return cls(start_ms, candle_ms / 1000 / every_s, **kwargs)  # type: ignore[arg-type]

    def now_ms(self) -> int:
        return self.start_ms + int((self.clock() - self._origin) * 1000 * self.speed)

    def wait_until(self, ts_ms: int) -> None:
        remaining = ts_ms - self.now_ms()
        if remaining > 0:
            self.sleep(remaining / 1000 / self.speed)
