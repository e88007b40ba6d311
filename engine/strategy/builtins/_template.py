"""TEMPLATE_NAME: long while the close is above its simple moving average (a starting point: edit freely).

`gauntlet strategy new NAME` copies this file. As written it passes `gauntlet check causality NAME.py`;
keep it passing as you change it. The whole contract (engine/strategy/contract.py) is the three names below:
`Params`, `GRID` and `signals`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.strategy.bars import Bars
from engine.strategy.indicators_nb import sma_nb
from engine.strategy.signals import Signals


@dataclass(frozen=True, slots=True)
class Params:
    """The parameters: a frozen dataclass with defaults, so a run records them and a sweep varies them.
    Values from the command line (`--params window=30`) are converted to these types."""

    window: int = 50

    def __post_init__(self) -> None:
        # Refuse values that make no sense, naming the strategy and the value: sweeps skip such combinations.
        if self.window < 2:
            raise ValueError(f"TEMPLATE_NAME needs window >= 2, got {self.window}")

    @property
    def warmup(self) -> int:
        # Bars of history one decision needs: paper and live call `signals` on only this many trailing bars,
        # so it must cover every look-back (here SMA(window) on this bar and the one before).
        return self.window + 1


# The default sweep grid: parameter name -> values (`gauntlet sweep --param window=10:200:10` overrides it).
GRID = {"window": range(10, 210, 10)}


def signals(bars: Bars, p: Params) -> Signals:
    """Decided at each bar's close, filled at the next bar's open (the engine shifts; never do it here).

    Rules that keep it causal: use only bars up to and including t for the decision at t (no `shift(-1)`,
    no centred windows, no `bfill`, no statistics of the whole series), and no I/O, clock or randomness.
    Arrays in `bars` are NumPy: open, high, low, close, volume, ts_ms.
    """
    above = np.asarray(bars.close > sma_nb(bars.close, p.window))  # NaN during the warm-up compares False
    # Optional columns (see engine/signals.py): short_entries/short_exits, size (fraction of equity),
    # sl_stop/tp_stop (distance as a fraction of the entry price), e.g. sl_stop=np.full(len(bars), 0.02).
    return Signals.from_target(above)
