"""The promotion gates, in one place, and the verdict a walk-forward headlines.

A candidate is promoted only when every gate passes; a figure that could not be computed (DSR with one
trial, WFE when the in-sample return is not positive) fails its gate and says why. The thresholds are the
defaults of `engine.live.gates.GateThresholds`, which `gauntlet promote` judges by as well (it adds the
gates a walk-forward summary cannot show: out-of-sample drawdown and round trips, causality, parity, the
data's gaps and fingerprint):

- out-of-sample Sharpe >= 0.5: the stitched out-of-sample equity, annualized (`engine.sim.metrics_nb`);
- DSR >= 0.95: the Deflated Sharpe Ratio of the stitched out-of-sample daily returns, trials = the grid;
- PBO <= 0.5: the probability of backtest overfitting of the whole-period search (above 0.5 the in-sample
  winner more often than not lands in the bottom half out of sample);
- WFE >= 0.5: walk-forward efficiency, the out-of-sample annual log return over the in-sample one
  (Pardo's 50%); defined only when the in-sample return is positive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.live.gates import GateThresholds

__all__ = ["GATES", "Gate", "Verdict", "verdict"]


@dataclass(frozen=True, slots=True)
class Gate:
    name: str  # how the verdict names the figure
    key: str  # where the figure is in the walk-forward summary: "section.field"
    threshold: float
    higher_is_better: bool = True


_DEFAULTS = GateThresholds()
GATES: tuple[Gate, ...] = (
    Gate("out-of-sample Sharpe", "stitched_oos.sharpe", _DEFAULTS.min_oos_sharpe),
    Gate("DSR", "evidence.dsr", _DEFAULTS.min_dsr),
    Gate("PBO", "evidence.pbo", _DEFAULTS.max_pbo, higher_is_better=False),
    Gate("WFE", "efficiency.wfe_return", _DEFAULTS.min_wfe),
)
_NOTES = {"evidence.dsr": ("evidence", "dsr_note"), "evidence.pbo": ("evidence", "pbo_note"),
          "efficiency.wfe_return": ("efficiency", "wfe_note")}


@dataclass(frozen=True, slots=True)
class Verdict:
    candidate: dict[str, Any] | None
    promote: bool
    failures: tuple[str, ...]  # "DSR 0.02 < 0.95", "WFE n/a (in-sample return -3.1% a year is not positive)"
    passes: tuple[str, ...]

    @property
    def text(self) -> str:
        if self.candidate is None:
            return "no candidate: no fold picked a combination (see --min-trades); nothing to promote"
        name = "candidate " + ",".join(f"{k}={v}" for k, v in self.candidate.items())
        if self.promote:
            return f"{name}: promote, passes every gate ({', '.join(self.passes)})"
        return f"{name}: do not promote, fails {', '.join(self.failures)}"

    def record(self) -> dict:
        return {"candidate": self.candidate, "promote": self.promote, "failures": list(self.failures),
                "passes": list(self.passes), "text": self.text,
                "gates": [{"name": g.name, "figure": g.key, "threshold": g.threshold,
                           "rule": ">=" if g.higher_is_better else "<="} for g in GATES]}


def _check(gate: Gate, summary: dict) -> tuple[bool, str]:
    section, field = gate.key.split(".")
    value = summary.get(section, {}).get(field)
    if value is None or not math.isfinite(value):
        note_section, note_field = _NOTES.get(gate.key, (section, ""))
        note = summary.get(note_section, {}).get(note_field) or "not computed"
        return False, f"{gate.name} n/a ({note})"
    ok = value >= gate.threshold if gate.higher_is_better else value <= gate.threshold
    sign = (">=" if ok else "<") if gate.higher_is_better else ("<=" if ok else ">")
    return ok, f"{gate.name} {value:.2f} {sign} {gate.threshold:g}".replace(" -", " \u2212")  # a minus sign, not a hyphen


def verdict(summary: dict, gates: tuple[Gate, ...] = GATES) -> Verdict:
    """The candidate of a walk-forward summary against every gate; no candidate is never promoted."""
    candidate = summary.get("candidate")
    checks = [_check(g, summary) for g in gates]
    failures = tuple(text for ok, text in checks if not ok)
    passes = tuple(text for ok, text in checks if ok)
    return Verdict(candidate, candidate is not None and not failures, failures, passes)
