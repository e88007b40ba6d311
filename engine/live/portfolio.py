"""Limits across the deployments of one runner process, checked in front of the venue on every entry (exits
are never refused: reducing risk is always allowed):

- `max_exposure_rate`: every position's value together, with the entry, as a share of the process's equity;
- `max_asset_rate`: one base asset's positions, with the entry, as a share of that equity;
- `max_drawdown_rate`: the process's equity this far below its peak halts it: every entry is refused and the
  runner latches every deployment's kill switch, so the halt holds across restarts until someone resets it.

Each refusal is a `RiskChecked` naming the rule (`portfolio_*`) with the figures, then the order's rejection.
The peak is measured from the process's start: a restart measures from its own start (the latched switches
keep a halt that happened).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.events import RiskChecked
from engine.core.orders import Order
from engine.live.recovery import Refusal

__all__ = ["Holding", "Portfolio", "PortfolioLimits"]


@dataclass(frozen=True, slots=True)
class PortfolioLimits:
    """None: that limit is off (the default: a process of one deployment has only its own risk rules)."""

    max_exposure_rate: float | None = None
    max_asset_rate: float | None = None
    max_drawdown_rate: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_exposure_rate", "max_asset_rate", "max_drawdown_rate"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"portfolio {name} must be in (0, 1], got {value}")

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.max_exposure_rate, self.max_asset_rate, self.max_drawdown_rate))


@dataclass(frozen=True, slots=True)
class Holding:
    """One deployment's books as of its last candle: equity and its position's value (quote, unsigned)."""

    asset: str
    equity: float
    exposure: float


@dataclass
class Portfolio:
    limits: PortfolioLimits
    holdings: dict[str, Holding] = field(default_factory=dict)
    peak: float = 0.0
    halted: str | None = None  # why the drawdown halt tripped

    @property
    def equity(self) -> float:
        return sum(h.equity for h in self.holdings.values())

    def update(self, name: str, holding: Holding) -> str | None:
        """A deployment's books after a candle; returns the drawdown halt's reason the moment it trips."""
        self.holdings[name] = holding
        equity = self.equity
        self.peak = max(self.peak, equity)
        limit = self.limits.max_drawdown_rate
        if self.halted is None and limit is not None and equity <= self.peak * (1 - limit):
            self.halted = (f"portfolio drawdown: equity {equity:.2f} is {1 - equity / self.peak:.2%} below the peak "
                           f"{self.peak:.2f} (limit {limit:.2%})")
            return self.halted
        return None

    def refusal(self, name: str, order: Order, ts_ms: int, last_px: float) -> Refusal | None:
        """Why the portfolio refuses this entry of deployment `name`, or None."""
        wanted = order.quote_qty if order.quote_qty is not None else order.qty * last_px
        equity, lim = self.equity, self.limits
        asset = order.symbol.split("/")[0]

        def refuse(rule: str, reason: str) -> Refusal:
            return Refusal(RiskChecked(ts_ms, equity, wanted, 0.0, rule, self.peak), reason)

        if self.halted is not None:
            return refuse("portfolio_drawdown", self.halted)
        if equity <= 0:
            return None
        total = sum(h.exposure for h in self.holdings.values()) + wanted
        if lim.max_exposure_rate is not None and total > lim.max_exposure_rate * equity:
            return refuse("portfolio_exposure", f"portfolio exposure {total:.2f} with this entry would be "
                          f"{total / equity:.2%} of equity {equity:.2f} (limit {lim.max_exposure_rate:.2%})")
        held = sum(h.exposure for h in self.holdings.values() if h.asset == asset) + wanted
        if lim.max_asset_rate is not None and held > lim.max_asset_rate * equity:
            return refuse("portfolio_asset", f"{asset} exposure {held:.2f} with this entry would be {held / equity:.2%} "
                          f"of equity {equity:.2f} (limit {lim.max_asset_rate:.2%})")
        return None
