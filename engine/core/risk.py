"""Risk rules, checked before every entry (first failure blocks), and position sizing.

Exits are never blocked: reducing risk is always allowed. Every decision, allowed or blocked, becomes a
`RiskChecked` event naming the rule and its figures, so a replay and a live journal say why a trade did not
happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.core.calendar import DAY_MS



@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_position_rate: float = 1.0  # one position's notional as a share of equity
    max_exposure_rate: float = 1.0  # every position together
    max_positions: int = 1
    daily_loss_rate: float | None = None  # no new entries once equity is this far below the UTC day's start
    max_drawdown_rate: float | None = None  # circuit breaker: no new entries this far below peak equity
    loss_streak: int | None = None  # after this many losing round trips in a row...
    cooldown_bars: int = 0  # ...no new entries for this many bars
    require_stop: bool = False  # refuse entries that carry no stop-loss

    def __post_init__(self) -> None:
        for name in ("max_position_rate", "max_exposure_rate"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1] for spot, got {getattr(self, name)}")
        for name in ("daily_loss_rate", "max_drawdown_rate"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), got {value}")
        if self.max_positions < 1 or self.cooldown_bars < 0 or (self.loss_streak is not None and self.loss_streak < 1):
            raise ValueError("max_positions >= 1, cooldown_bars >= 0 and loss_streak >= 1 are required")


@dataclass(frozen=True, slots=True)
class Sizing:
    """How much of the equity an entry commits: `all` (the sweep's all-in), `fixed_fraction`, `atr` (risk
    `risk_per_trade` of equity over `atr_mult` ATRs) or `half_kelly` (half the Kelly fraction of the last
    `kelly_lookback` round trips; `fraction` until there are that many)."""

    method: str = "all"
    fraction: float = 1.0
    risk_per_trade: float = 0.01
    atr_mult: float = 2.0
    kelly_lookback: int = 30

    def __post_init__(self) -> None:
        if self.method not in ("all", "fixed_fraction", "atr", "half_kelly"):
            raise ValueError(f"unknown sizing {self.method!r}: all, fixed_fraction, atr or half_kelly")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"sizing fraction must be in (0, 1], got {self.fraction}")


@dataclass(frozen=True, slots=True)
class RiskConfig:
    limits: RiskLimits = field(default_factory=RiskLimits)
    sizing: Sizing = field(default_factory=Sizing)


def half_kelly(pnls: list[float]) -> float | None:
    """Half of W - (1 - W) / R over closed round trips, floored at 0; None without wins and losses to measure."""
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p < 0]
    if not wins or not losses:
        return None
    w, r = len(wins) / len(pnls), (sum(wins) / len(wins)) / (sum(losses) / len(losses))
    return max(0.0, (w - (1 - w) / r) / 2)


@dataclass
class RiskBook:
    """The state the rules read, kept by the loop: peak equity, the day's opening equity, the loss streak."""

    limits: RiskLimits
    sizing: Sizing
    peak: float
    day: int = -1
    day_start: float = 0.0
    streak: int = 0
    cooldown_until_ms: int = -1  # no entries at bars opening up to this time (keyed by time, not bar index)
    last_equity: float = 0.0  # the close of the last bar observed (the next day's opening equity, if it ends one)
    pnls: list[float] = field(default_factory=list)

    def observe(self, equity: np.ndarray, ts_ms: np.ndarray) -> None:
        """Bars that closed since the last call (their values and open times), one bar or a stretch alike:
        a day that starts with the first of them opens at the last value seen before them."""
        if not len(equity):
            return
        self.peak = max(self.peak, float(equity.max()))
        days = ts_ms // DAY_MS
        if days[-1] != self.day:
            changed = np.flatnonzero(days != np.r_[self.day, days[:-1]])
            last = int(changed[-1])
            self.day_start = float(equity[last - 1]) if last > 0 else self.last_equity
            self.day = int(days[-1])
        self.last_equity = float(equity[-1])

    def round_trip(self, pnl: float, ts_ms: int, bar_ms: int) -> None:
        """A round trip closed during the bar opening at `ts_ms`; a losing streak starts a cooldown of
        `cooldown_bars` bars of `bar_ms` after it (a time, so a window, a restart or a live feed agree)."""
        self.pnls.append(pnl)
        self.streak = self.streak + 1 if pnl < 0 else 0
        if self.limits.loss_streak is not None and self.streak >= self.limits.loss_streak:
            self.cooldown_until_ms, self.streak = ts_ms + self.limits.cooldown_bars * bar_ms, 0

    def size(self, equity: float, cash: float, px: float, atr: float) -> float:
        """Quote to spend on an entry, before the limits."""
        s = self.sizing
        if s.method == "all":
            return cash
        if s.method == "fixed_fraction":
            return min(cash, equity * s.fraction)
        if s.method == "atr":
            qty = equity * s.risk_per_trade / (s.atr_mult * atr) if atr > 0 else 0.0
            return min(cash, qty * px)
        kelly = half_kelly(self.pnls[-s.kelly_lookback:]) if len(self.pnls) >= s.kelly_lookback else None
        return min(cash, equity * (s.fraction if kelly is None else min(kelly, 1.0)))

    def check_entry(self, ts_ms: int, equity: float, quote: float, held_value: float,
                    has_stop: bool) -> tuple[float, str | None]:
        """(quote allowed, the rule that blocked or cut it, a key of `RISK_RULES`): the first failing rule decides."""
        lim = self.limits
        if lim.require_stop and not has_stop:
            return 0.0, "require_stop"
        if ts_ms <= self.cooldown_until_ms:
            return 0.0, "cooldown"
        if lim.max_drawdown_rate is not None and equity <= self.peak * (1 - lim.max_drawdown_rate):
            return 0.0, "max_drawdown"
        if lim.daily_loss_rate is not None and self.day_start > 0 and equity <= self.day_start * (1 - lim.daily_loss_rate):
            return 0.0, "daily_loss"
        if held_value > 0 and lim.max_positions <= 1:
            return 0.0, "max_positions"
        cap = min(lim.max_position_rate * equity, lim.max_exposure_rate * equity - held_value)
        if quote > cap:
            return max(cap, 0.0), "position_limit"
        return quote, None
