from __future__ import annotations

import pytest

from engine.venues.clock import AcceleratedClock, HistoricalClock, WallClock


class FakeTime:
    """A controllable time source: sleeping advances it."""

    def __init__(self, now: float) -> None:
        self.now, self.slept = now, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_historical_time_only_moves_forward_and_never_waits():
    clock = HistoricalClock(1_000)
    clock.wait_until(5_000)
    clock.wait_until(2_000)
    assert clock.now_ms() == 5_000


def test_wall_clock_sleeps_until_the_bar_closes():
    fake = FakeTime(100.0)
    clock = WallClock(sleep=fake.sleep, clock=fake)
    clock.wait_until(160_000)
    assert fake.slept == [pytest.approx(60.0)] and clock.now_ms() == 160_000
    clock.wait_until(10_000)  # already past: no sleep
    assert len(fake.slept) == 1


def test_accelerated_clock_runs_faster_than_the_wall():
    fake = FakeTime(0.0)
    clock = AcceleratedClock(start_ms=1_700_000_000_000, speed=60.0, sleep=fake.sleep, clock=fake)
    clock.wait_until(1_700_000_000_000 + 3_600_000)  # an hour of market time
    assert fake.slept == [pytest.approx(60.0)] and clock.now_ms() == 1_700_000_000_000 + 3_600_000
    with pytest.raises(ValueError, match="speed must be positive"):
        AcceleratedClock(0, 0.0)


def test_an_accelerated_clock_closes_a_candle_every_so_often_and_processes_can_share_it():
    fake = FakeTime(500.0)
    clock = AcceleratedClock.candle_every(60_000, 60_000, 0.1, clock=fake, sleep=fake.sleep)
    assert clock.speed == 600
    fake.now += 0.25
    assert clock.now_ms() == 60_000 + 150_000  # two and a half 1m candles in a quarter of a second
    other = AcceleratedClock(60_000, 600, clock=fake, origin_s=500.0)  # made later, same origin: same time
    assert other.now_ms() == clock.now_ms()
    with pytest.raises(ValueError, match="positive"):
        AcceleratedClock.candle_every(0, 60_000, 0)
