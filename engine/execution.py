"""The execution conventions shared by the sweep, replay, paper and live: costs, and the close -> next open
shift, which happens here and nowhere else.

A signal decided at the close of bar t becomes an order that fills at the open of bar t+1 (plus
slippage). `at_next_open` moves every signal column one bar later; a decision on the last bar has no
next bar to fill in and is dropped, so nothing ever acts on an in-progress candle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.signals import Signals


@dataclass(frozen=True, slots=True)
class Costs:
    """Fees on notional and slippage as a rate, in vectorbt's formulas so sweep and replay agree:
    a buy fills at px * (1 + slippage_rate), a sell at px * (1 - slippage_rate), and the fee is
    fee_rate * fill notional."""

    fee_rate: float = 0.001  # taker: market and stop orders
    slippage_rate: float = 0.0005
    init_cash: float = 10_000.0
    maker_fee_rate: float | None = None  # limit orders that rest and fill; None: the taker rate

    @property
    def maker_rate(self) -> float:
        return self.fee_rate if self.maker_fee_rate is None else self.maker_fee_rate

    def __post_init__(self) -> None:
        if not 0 <= self.fee_rate < 1:
            raise ValueError(f"fee rate must be in [0, 1), got {self.fee_rate}")
        if not 0 <= self.slippage_rate < 1:
            raise ValueError(f"slippage rate must be in [0, 1), got {self.slippage_rate}")
        if not self.init_cash > 0:
            raise ValueError(f"initial cash must be positive, got {self.init_cash}")


def _shift(column: np.ndarray) -> np.ndarray:
    out = np.empty_like(column)
    out[0:1] = False if column.dtype == np.bool_ else np.nan
    out[1:] = column[:-1]
    return out


def at_next_open(signals: Signals) -> Signals:
    """Signals re-aligned to the bar whose open fills them: row t+1 holds the decision of bar t."""
    return replace(signals, **{name: _shift(column) for name, column in signals.columns.items()})
