"""Trend following with an ATR stop: buy when the close crosses above its SMA(window), sell when it
crosses back below, and protect every entry with a stop-loss `atr_mult` ATRs under the entry. With
`short`, a cross below also goes short (stopped `atr_mult` ATRs above), so the system is always in the
market until a stop takes it out.

The stop distance is decided at the signal bar as a fraction of the close (`sl_stop`), which is how
vectorbt and the engine both read it. ATR is exponential (vbt.ATR's default), so `warmup` covers twenty
ATR spans, where the start weighs under 1e-17."""

from __future__ import annotations

from dataclasses import dataclass

from engine.strategy.bars import Bars
from engine.strategy.indicators_nb import atr_nb, crossed_above_nb, sma_nb
from engine.strategy.signals import Signals

DECLARES_STOP = True  # every entry carries a stop-loss; the risk rules refuse one that does not


@dataclass(frozen=True, slots=True)
class Params:
    window: int = 50
    atr_window: int = 14
    atr_mult: float = 3.0
    short: bool = False

    def __post_init__(self) -> None:
        if self.window < 2 or self.atr_window < 2:
            raise ValueError(f"atr_trend needs window >= 2 and atr_window >= 2, got {self.window}, {self.atr_window}")
        if not self.atr_mult > 0:
            raise ValueError(f"atr_trend needs atr_mult > 0, got {self.atr_mult}")

    @property
    def warmup(self) -> int:
        return max(self.window + 1, 20 * self.atr_window)


GRID = {"window": range(20, 220, 20), "atr_window": (14,), "atr_mult": (1.5, 2.0, 2.5, 3.0, 4.0)}


def signals(bars: Bars, p: Params) -> Signals:
    sma = sma_nb(bars.close, p.window)
    stop = p.atr_mult * atr_nb(bars.high, bars.low, bars.close, p.atr_window, True) / bars.close
    up, down = crossed_above_nb(bars.close, sma), crossed_above_nb(sma, bars.close)
    if p.short:
        return Signals(entries=up, exits=down, short_entries=down, short_exits=up, sl_stop=stop)
    return Signals(entries=up, exits=down, sl_stop=stop)
