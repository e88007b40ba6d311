"""Long while the fast exponential moving average is above the slow one (`vbt.MA` with `ewm=True`).

An EMA never forgets its start, so a decision from a trailing window only approaches the one from full
history; `warmup` is twenty slow spans, where the start weighs under 1e-17."""

from __future__ import annotations

from dataclasses import dataclass

from engine.strategy.bars import Bars
from engine.strategy.indicators_nb import crossed_above_nb, ema_nb
from engine.strategy.signals import Signals

SCREEN = {"kernel": "ma_cross", "ewm": True}


@dataclass(frozen=True, slots=True)
class Params:
    fast: int = 12
    slow: int = 26

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise ValueError(f"ema_cross needs 0 < fast < slow, got fast={self.fast} slow={self.slow}")

    @property
    def warmup(self) -> int:
        return 20 * self.slow


GRID = {"fast": range(4, 52, 4), "slow": range(10, 210, 10)}


def signals(bars: Bars, p: Params) -> Signals:
    fast, slow = ema_nb(bars.close, p.fast), ema_nb(bars.close, p.slow)
    return Signals(entries=crossed_above_nb(fast, slow), exits=crossed_above_nb(slow, fast))
