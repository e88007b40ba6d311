"""Mean reversion on the RSI: buy when it crosses below `lower` (oversold), sell when it crosses above
`upper`. Equals `vbt.RSI.run(close, window)` with `rsi_crossed_below(lower)` / `rsi_crossed_above(upper)`."""

from __future__ import annotations

from dataclasses import dataclass

from engine.strategy.bars import Bars
from engine.strategy.indicators_nb import crossed_above_value_nb, crossed_below_value_nb, rsi_nb
from engine.strategy.signals import Signals


@dataclass(frozen=True, slots=True)
class Params:
    window: int = 14
    lower: float = 30.0
    upper: float = 70.0

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"rsi_reversion needs window >= 2, got {self.window}")
        if not 0 < self.lower < self.upper < 100:
            raise ValueError(f"rsi_reversion needs 0 < lower < upper < 100, got lower={self.lower} upper={self.upper}")

    @property
    def warmup(self) -> int:
        return self.window + 2  # one diff, a full window, and the bar before for the cross


GRID = {"window": range(6, 36, 2), "lower": (20.0, 25.0, 30.0, 35.0), "upper": (65.0, 70.0, 75.0, 80.0)}


def signals(bars: Bars, p: Params) -> Signals:
    rsi = rsi_nb(bars.close, p.window, False)
    return Signals(entries=crossed_below_value_nb(rsi, p.lower), exits=crossed_above_value_nb(rsi, p.upper))
