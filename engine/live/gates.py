"""What a candidate must show before it trades: the promotion gates' thresholds, each with its documented
default, and one gate's outcome as a deployment records it (figure, threshold, rule, pass/fail).

The thresholds live here, in the engine, because a deployment carries them: the runner reads the file and
the engine never imports `research`. `research.gates` (the walk-forward verdict) takes its defaults from
here, so a walk-forward that says "promote" and `gauntlet promote` judge by the same numbers.

Defaults, and why:

- `min_oos_sharpe` 0.5: the stitched out-of-sample Sharpe, annualized; below it costs and luck dominate.
- `max_oos_drawdown_rate` 0.3: the deepest out-of-sample fall from a peak, as a fraction (0.3 = 30%).
- `min_oos_round_trips` 10: out-of-sample round trips; fewer is a handful of lucky trades, not a strategy.
- `min_dsr` 0.95: the Deflated Sharpe Ratio (the Sharpe corrected for the number of trials) as a probability.
- `max_pbo` 0.5: the Probability of Backtest Overfitting; above 0.5 the in-sample winner more often than
  not lands in the bottom half out of sample.
- `min_wfe` 0.5: walk-forward efficiency, out-of-sample over in-sample annual log return (Pardo's 50%).
- `max_parity_rate` 1e-9: the ideal replay's final equity against the sweep's, relative; every order must
  match too.
- `max_gap` "1d" and `max_missing_rate` 0.01: the longest run of missing candles in the window, and the
  share of the window's candles that are missing.
- `causality_cuts` 50: cut points sampled by the look-ahead and warm-up check (every bar of the warm-up
  region is checked as well).
- live only: `min_paper_days` 14 and `min_paper_fills` 20 of paper trading of the same spec, whose drift
  report has at most `max_unexplained_drift` 0 unexplained differences and explained ones whose effects
  sum to at most `max_drift_rate` 0.01 of the initial cash.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.ohlcv.timeframe import timeframe_ms

__all__ = ["Figure", "GateResult", "GateThresholds"]

Figure = bool | int | float | str


class GateThresholds(BaseModel):
    """Every gate's threshold; a deployment records the ones it was judged by."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_oos_sharpe: float = 0.5
    max_oos_drawdown_rate: float = Field(0.3, gt=0, le=1)
    min_oos_round_trips: int = Field(10, ge=0)
    min_dsr: float = Field(0.95, ge=0, le=1)
    max_pbo: float = Field(0.5, ge=0, le=1)
    min_wfe: float = 0.5
    max_parity_rate: float = Field(1e-9, ge=0)
    max_gap: str = "1d"
    max_missing_rate: float = Field(0.01, ge=0, le=1)
    causality_cuts: int = Field(50, ge=1)
    min_paper_days: float = Field(14.0, ge=0)
    min_paper_fills: int = Field(20, ge=0)
    max_unexplained_drift: int = Field(0, ge=0)
    max_drift_rate: float = Field(0.01, ge=0)

    @field_validator("max_gap")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        timeframe_ms(value)  # 6h, 1d, 2d: the cache's one duration grammar; raises naming the text
        return value

    @property
    def max_gap_ms(self) -> int:
        return timeframe_ms(self.max_gap)


class GateResult(BaseModel):
    """One gate as judged: `figure rule threshold` passes (`PBO 0.10 <= 0.5`). A figure that could not be
    measured is absent and the gate fails; `detail` says why, or which command to run. A failed gate that a
    recorded flag let through (`--force` on paper, `--allow-unrestricted-ip`) names it in `waived_by`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    passed: bool
    figure: Figure | None = None
    threshold: Figure | None = None
    rule: Literal[">=", "<=", "==", ""] = ""
    detail: str = ""
    waived_by: str | None = None

    @classmethod
    def compare(cls, name: str, figure: float | int | None, rule: Literal[">=", "<="], threshold: float | int,
                detail: str = "") -> GateResult:
        """A numeric gate: passes when `figure rule threshold` holds; no figure (None, NaN) fails."""
        if figure is None or (isinstance(figure, float) and not math.isfinite(figure)):
            return cls(name=name, passed=False, threshold=threshold, rule=rule, detail=detail or "not computed")
        passed = figure >= threshold if rule == ">=" else figure <= threshold
        return cls(name=name, passed=bool(passed), figure=figure, threshold=threshold, rule=rule, detail=detail)

    @property
    def ok(self) -> bool:
        """Passed, or let through by a recorded flag."""
        return self.passed or self.waived_by is not None

    def text(self) -> str:
        """`PBO 0.1 <= 0.5`, `PBO 0.62 > 0.5`, `DSR n/a (needs two or more trials that differ)`."""
        if self.figure is None:
            return f"{self.name} n/a ({self.detail})" if self.detail else f"{self.name} n/a"
        rule = self.rule or "=="
        sign = rule if self.passed else {">=": "<", "<=": ">", "==": "!="}[rule]
        return f"{self.name} {_shown(self.figure)} {sign} {_shown(self.threshold)}".rstrip()


def _shown(value: Figure | None) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
