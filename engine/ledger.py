"""The ledger: cash, one position, average entry, realized and unrealized PnL, fees paid, equity.
("Portfolio" is vectorbt's word.) Spot long only in this version; the arithmetic mirrors vectorbt's so an
ideal replay ends on the sweep's equity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from engine.fills_nb import add_nb

add = add_nb.py_func  # the same snapping, without numba call overhead on scalars


class Fill(NamedTuple):
    """A fact: `qty` base changed hands at `px`, costing `fee` quote (a tuple: immutable and cheap to build)."""

    order_id: str
    bar: int
    ts_ms: int
    side: int
    qty: float
    px: float
    fee: float

    @property
    def notional(self) -> float:
        return self.qty * self.px


class RoundTrip(NamedTuple):
    entry_bar: int
    exit_bar: int
    qty: float
    entry_px: float
    exit_px: float
    fees: float
    pnl: float


@dataclass(slots=True)
class Ledger:
    cash: float
    qty: float = 0.0
    avg_entry_px: float = 0.0
    realized_pnl: float = 0.0
    fees_paid: float = 0.0
    entry_fees: float = 0.0  # fees of the open position's buys, charged to its round trip
    entry_bar: int = -1
    round_trips: list[RoundTrip] = field(default_factory=list)

    def apply(self, fill: Fill) -> None:
        if fill.side > 0:
            cost = fill.qty * fill.px + fill.fee
            if cost > self.cash * (1 + 1e-12):
                raise ValueError(f"fill {fill.order_id} costs {cost:.8f} with {self.cash:.8f} cash: spot cannot borrow")
            self.avg_entry_px = (self.avg_entry_px * self.qty + fill.px * fill.qty) / (self.qty + fill.qty)
            self.entry_bar = fill.bar if self.qty == 0 else self.entry_bar
            self.cash, self.qty = add(self.cash, -cost), self.qty + fill.qty
            self.entry_fees += fill.fee
        else:
            if fill.qty > self.qty * (1 + 1e-12):
                raise ValueError(f"fill {fill.order_id} sells {fill.qty} with {self.qty} held: spot cannot short")
            pnl = fill.qty * (fill.px - self.avg_entry_px) - fill.fee - self.entry_fees * fill.qty / self.qty
            self.cash += add(fill.qty * fill.px, -fill.fee)
            self._close(fill, pnl)
        self.fees_paid += fill.fee

    def _close(self, fill: Fill, pnl: float) -> None:
        share = fill.qty / self.qty
        self.round_trips.append(RoundTrip(self.entry_bar, fill.bar, fill.qty, self.avg_entry_px, fill.px,
                                          self.entry_fees * share + fill.fee, pnl))
        self.realized_pnl += pnl
        self.entry_fees *= 1 - share
        self.qty = add(self.qty, -fill.qty)
        if self.qty == 0:
            self.avg_entry_px, self.entry_fees, self.entry_bar = 0.0, 0.0, -1

    def equity(self, px: float) -> float:
        return self.cash + self.qty * px

    def unrealized_pnl(self, px: float) -> float:
        return self.qty * (px - self.avg_entry_px) - self.entry_fees
