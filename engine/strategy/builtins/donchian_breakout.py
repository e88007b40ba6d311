"""Donchian channel breakout: buy when the close breaks above the highest high of the previous
`entry_window` bars, sell when it breaks below the lowest low of the previous `exit_window` bars. With
`short`, the mirror image too: short a break below the `entry_window` low, cover a break above the
`exit_window` high; a breakout against the position reverses it (the turtle system, both ways)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.strategy.bars import Bars
from engine.strategy.indicators_nb import rolling_max_nb, rolling_min_nb
from engine.strategy.signals import Signals


@dataclass(frozen=True, slots=True)
class Params:
    entry_window: int = 20
    exit_window: int = 10
    short: bool = False

    def __post_init__(self) -> None:
        if self.entry_window < 1 or self.exit_window < 1:
            raise ValueError(f"donchian_breakout needs windows >= 1, got entry_window={self.entry_window} "
                             f"exit_window={self.exit_window}")

    @property
    def warmup(self) -> int:
        return max(self.entry_window, self.exit_window) + 1  # the channel of the bars before this one


GRID = {"entry_window": range(10, 110, 10), "exit_window": range(5, 55, 5)}


def _previous(channel: np.ndarray) -> np.ndarray:
    """The channel as it stood at the previous bar, so a bar never breaks out of itself."""
    return np.r_[np.nan, channel[:-1]]


def signals(bars: Bars, p: Params) -> Signals:
    close = bars.close
    upper = _previous(rolling_max_nb(bars.high, p.entry_window))
    lower = _previous(rolling_min_nb(bars.low, p.exit_window))
    with np.errstate(invalid="ignore"):
        if not p.short:
            return Signals(entries=close > upper, exits=close < lower)
        floor = _previous(rolling_min_nb(bars.low, p.entry_window))
        ceiling = _previous(rolling_max_nb(bars.high, p.exit_window))
        return Signals(entries=close > upper, exits=close < lower, short_entries=close < floor,
                       short_exits=close > ceiling)
