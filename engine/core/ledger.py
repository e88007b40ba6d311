"""The ledger: cash, one position, average entry, realized and unrealized PnL, fees paid, equity.
("Portfolio" is vectorbt's word.) Long, and short where the strategy asks; the arithmetic mirrors
vectorbt's so an ideal replay ends on the sweep's equity.

Fees are booked in the asset the venue charged them in. In quote (vectorbt's and the simulated venue's
way) they come out of cash. In base (Binance charges a buy's commission in the coin received) they come out
of the position: a buy of `qty` receives `qty - fee`, a sale delivers `qty + fee`. In a third asset (BNB)
they come out of that asset's balance, which the ledger values at the last price it was given for it.
Whatever the asset, a fee counts at its quote value at the fill in fees paid and round-trip PnL, and the
books balance: a fill in base is the same as trading the base that actually moved at the fill's price
and paying the fee's quote value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from engine.core import costs_nb

REL_TOL, ABS_TOL = costs_nb.REL_TOL, costs_nb.ABS_TOL


def add(a: float, b: float) -> float:
    """`costs_nb.add_nb` for Python floats (a test holds them equal): the sign compared without NumPy, which
    costs a microsecond a call on scalars and the books add on every fill."""
    if (a > 0) - (a < 0) != (b > 0) - (b < 0):
        x, y = abs(a), abs(b)
        if x == y or abs(x - y) <= max(REL_TOL * max(x, y), ABS_TOL):
            return 0.0
    elif abs(a + b) <= ABS_TOL:
        return 0.0
    return a + b


FEE_IN_QUOTE, FEE_IN_BASE = "quote", "base"


class Fill(NamedTuple):
    """A fact: `qty` base changed hands at `px`, costing `fee` in `fee_asset` ("quote", "base" or another
    asset's code), worth `fee_px` quote a unit (a tuple: immutable and cheap to build)."""

    order_id: str
    bar: int
    ts_ms: int
    side: int
    qty: float
    px: float
    fee: float
    fee_asset: str = FEE_IN_QUOTE
    fee_px: float = 1.0  # quote per unit of the fee asset: 1 for quote, the fill's price for base

    @property
    def notional(self) -> float:
        return self.qty * self.px

    @property
    def fee_quote(self) -> float:
        """The fee's value in quote at the fill."""
        return self.fee if self.fee_asset == FEE_IN_QUOTE else self.fee * self.fee_px


class RoundTrip(NamedTuple):
    entry_bar: int
    exit_bar: int
    direction: int  # +1 long, -1 short
    qty: float
    entry_px: float
    exit_px: float
    fees: float
    pnl: float


@dataclass(slots=True)
class Ledger:
    """Signed books: `qty` > 0 is a long, < 0 a short. A short's sale proceeds sit in `cash` and its debt
    (what it owes at the entry price) is locked twice, as vectorbt does: the proceeds, plus the same again
    as collateral out of free cash."""

    cash: float
    qty: float = 0.0
    avg_entry_px: float = 0.0
    realized_pnl: float = 0.0
    fees_paid: float = 0.0
    entry_fees: float = 0.0  # fees of the open position's entries, charged to its round trips
    interest_paid: float = 0.0  # a short's borrow interest, all of it
    carry: float = 0.0  # the open position's share of it, charged to its round trips
    entry_bar: int = -1
    round_trips: list[RoundTrip] = field(default_factory=list)
    balances: dict[str, float] = field(default_factory=dict)  # third assets fees were paid in (negative: owed)
    marks: dict[str, float] = field(default_factory=dict)  # their last known price in quote

    @property
    def debt(self) -> float:
        return -self.qty * self.avg_entry_px if self.qty < 0 else 0.0

    @property
    def free_cash(self) -> float:
        """Cash not backing a short: what a new position may commit."""
        return self.cash - 2 * self.debt

    def apply(self, fill: Fill) -> None:
        """Book a fill: it closes what it can of the opposite position, and opens the rest on its own side."""
        side, gross = fill.side, fill.qty * fill.px
        cash_fee = fill.fee if fill.fee_asset == FEE_IN_QUOTE else 0.0
        # the base that actually moves: a fee in base is received less of, or delivered on top
        qty = fill.qty if fill.fee_asset != FEE_IN_BASE else add(fill.qty, -side * fill.fee)
        fee = fill.fee_quote
        closing = min(qty, abs(self.qty)) if self.qty * side < 0 else 0.0
        opening = add(qty, -closing)
        close_fee = fee * closing / qty
        open_fee = fee - close_fee
        if side > 0 and gross + cash_fee > self.cash * (1 + 1e-12):
            raise ValueError(f"fill {fill.order_id} costs {gross + cash_fee:.8f} with {self.cash:.8f} cash: "
                             "quote cannot be borrowed")
        if side < 0 and opening > 0:
            backing = self.free_cash + closing * fill.px - close_fee  # a reversal's sale frees its own proceeds
            if opening * fill.px + open_fee > backing * (1 + 1e-12) + 1e-12:
                raise ValueError(f"fill {fill.order_id} shorts {opening:.8g} @ {fill.px:.8g} with {backing:.8f} "
                                 "free cash to back it")
        self.cash = add(self.cash, -(gross + cash_fee)) if side > 0 else self.cash + add(gross, -cash_fee)
        if fill.fee_asset not in (FEE_IN_QUOTE, FEE_IN_BASE):
            self.balances[fill.fee_asset] = self.balances.get(fill.fee_asset, 0.0) - fill.fee
            self.marks[fill.fee_asset] = fill.fee_px
        if closing > 0:
            self._close(fill, closing, close_fee)
        if opening > 0:
            held = abs(self.qty)
            self.avg_entry_px = (self.avg_entry_px * held + fill.px * opening) / (held + opening)
            self.entry_bar = fill.bar if held == 0 else self.entry_bar
            self.qty = add(self.qty, side * opening)
            self.entry_fees += open_fee
        self.fees_paid += fee

    def _close(self, fill: Fill, qty: float, fee: float) -> None:
        direction = 1 if self.qty > 0 else -1
        share = qty / abs(self.qty)
        pnl = direction * qty * (fill.px - self.avg_entry_px) - fee - (self.entry_fees + self.carry) * share
        self.round_trips.append(RoundTrip(self.entry_bar, fill.bar, direction, qty, self.avg_entry_px, fill.px,
                                          self.entry_fees * share + fee, pnl))
        self.realized_pnl += pnl
        self.entry_fees *= 1 - share
        self.carry *= 1 - share
        self.qty = add(self.qty, direction * -qty)
        if self.qty == 0:
            self.avg_entry_px, self.entry_fees, self.carry, self.entry_bar = 0.0, 0.0, 0.0, -1

    def interest_base(self) -> tuple[float, float, float]:
        """What `accrue_interest` counts from: cash, interest paid and carry as they stand."""
        return self.cash, self.interest_paid, self.carry

    def accrue_interest(self, total: float, base: tuple[float, float, float]) -> float:
        """Bring the books to `total` interest charged since `base`; returns what this call charged. Set from
        the base, not added step by step, so the same total gives the same books however many steps it took."""
        cash, paid, carry = base
        charged = total - (self.interest_paid - paid)
        self.cash, self.interest_paid, self.carry = cash - total, paid + total, carry + total
        return charged

    def mark(self, asset: str, px: float) -> None:
        """A new price (quote per unit) for a third asset the ledger holds fees in."""
        self.marks[asset] = px

    def equity(self, px: float) -> float:
        """Cash, the position at `px`, and the third-asset balances at their last marks."""
        other = sum(amount * self.marks[asset] for asset, amount in self.balances.items()) if self.balances else 0.0
        return self.cash + self.qty * px + other

    def unrealized_pnl(self, px: float) -> float:
        return self.qty * (px - self.avg_entry_px) - self.entry_fees - self.carry
