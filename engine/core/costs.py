"""Costs, one object for the sweep, replay, paper and live: fees on notional and slippage as a rate, in
vectorbt's formulas (the scalar kernels are in `engine.core.costs_nb`)."""

from __future__ import annotations

from dataclasses import dataclass


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
