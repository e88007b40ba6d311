"""What replay adds to the sweep's assumptions, switch by switch, so every difference between the two can be
attributed to one feature (`research.parity`). The loop reads the stop conventions, latency and borrow rate;
the simulated venue reads the rest."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.calendar import YEAR_MS


@dataclass(frozen=True, slots=True)
class Realism:
    """What replay adds to the sweep's assumptions. `Realism.ideal()` is exactly the sweep."""

    exchange_rules: bool = True  # lot step, tick, min amount, min notional
    partial_fills: bool = True  # an order takes at most `participation_cap` of a bar's volume; the rest carries
    participation_cap: float = 0.1
    impact_rate: float = 0.0  # extra slippage per unit of participation (0.1 of the volume -> 0.1 * impact_rate)
    latency_bars: int = 0  # bars after the next open before an order is live
    # interest a short pays on what it borrowed, a year's rate charged bar by bar on the position's value
    # (Binance margin charges hourly); crypto margin rates run from a few % to tens of % a year
    borrow_rate: float = 0.10
    # vectorbt's stop conventions, which the sweep uses: a stop is watched from the bar after the entry, is
    # checked before that bar's signal, and fills at the stop (or the open past it) without slippage. Off, a
    # stop is live from the entry's own bar, an exit signal acts at the open before the bar reaches the stop,
    # and a triggered stop pays slippage like any market order.
    vectorbt_stops: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.participation_cap <= 1:
            raise ValueError(f"participation cap must be in (0, 1], got {self.participation_cap}")
        if self.latency_bars < 0 or self.impact_rate < 0 or self.borrow_rate < 0:
            raise ValueError("latency, impact and borrow rate cannot be negative")

    def borrow_per_bar(self, bar_ms: int) -> float:
        """A short's interest per bar of `bar_ms`, as a fraction of the position's value at each close: the one
        rate the venue charges and the books are valued with."""
        return self.borrow_rate * bar_ms / YEAR_MS

    @classmethod
    def ideal(cls) -> Realism:
        return cls(exchange_rules=False, partial_fills=False, impact_rate=0.0, latency_bars=0, borrow_rate=0.0,
                   vectorbt_stops=True)
