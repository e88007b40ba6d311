"""Long while the fast simple moving average is above the slow one: enter on the cross up, exit on the
cross down, decided at the bar's close. Equals `vbt.MA.run(close, fast)` / `.ma_crossed_above(slow)` /
`.ma_crossed_below(slow)` with vectorbt's numba engine, bit for bit."""

from __future__ import annotations

from dataclasses import dataclass

from engine.strategy.bars import Bars
from engine.strategy.indicators_nb import crossed_above_nb, sma_nb
from engine.strategy.signals import Signals

SCREEN = {"kernel": "ma_cross", "ewm": False}


@dataclass(frozen=True, slots=True)
class Params:
    fast: int = 10
    slow: int = 50

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise ValueError(f"sma_cross needs 0 < fast < slow, got fast={self.fast} slow={self.slow}")

    @property
    def warmup(self) -> int:
        return self.slow + 1  # SMA(slow) at t-1 and at t


GRID = {"fast": range(5, 105, 5), "slow": range(20, 420, 20)}


def signals(bars: Bars, p: Params) -> Signals:
    fast, slow = sma_nb(bars.close, p.fast), sma_nb(bars.close, p.slow)
    return Signals(entries=crossed_above_nb(fast, slow), exits=crossed_above_nb(slow, fast))
