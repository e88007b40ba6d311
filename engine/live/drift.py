"""Drift: the live window replayed, trade by trade. The candles a deployment's journal says it handled are
replayed bar by bar from the cache with the spec it traded (kept in its snapshots), and its orders are matched
one by one with replay's (`drift_match`): identical, or each difference explained — a fill price beyond the
spec's slippage, a partial fill, a rejection (by the venue, the kill switch, the portfolio's limits), a late
candle, a restart — with its effect in quote currency, or unexplained.

A paper deployment that ran on candles that came on time comes out identical. `gauntlet drift NAME` prints the
report and exits non-zero when a difference is unexplained or the explained ones' effect, as a fraction of the
initial cash, exceeds a bound; `promote --to live` reads the same figures (`history.read_paper_evidence`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.core.market_rules import rules_from_sources
from engine.live.drift_match import KINDS, Context, Difference, Matched, Outcome, match, outcomes
from engine.live.journal import Journal
from engine.ohlcv.layout import SeriesKey
from engine.ohlcv.store import Store
from engine.replay import ReplayResult, replay
from engine.spec import RunSpec
from engine.strategy.bars import Bars
from engine.strategy.contract import load_strategy
from engine.strategy.signals import Signals

__all__ = ["DriftReport", "measure_drift"]


@dataclass(frozen=True)
class DriftReport:
    """What `measure_drift` found: the window, both sides' fills and final equity, and the matched orders."""

    deployment: str  # "NAME vN", as its snapshots recorded it
    quote: str  # the currency of every effect
    candles: int
    first_ms: int
    last_ms: int
    restarts: int  # starts of its runner after candles had been handled
    fills: int  # the journal's
    replay_fills: int
    init_cash: float
    live_equity: float  # the journal's last equity mark
    replay_equity: float  # replay's at the same close
    matched: Matched

    @property
    def differences(self) -> tuple[Difference, ...]:
        return self.matched.differences

    @property
    def unexplained(self) -> int:
        return self.matched.unexplained

    @property
    def effect(self) -> float:
        """The journal's final equity minus replay's, quote."""
        return self.live_equity - self.replay_equity

    @property
    def explained_effect(self) -> float:
        return self.matched.explained_effect

    @property
    def residual(self) -> float:
        """What no difference accounts for: borrow interest, a fee in a third asset, float rounding."""
        return self.effect - self.matched.effect

    @property
    def drift_rate(self) -> float:
        """The explained differences' summed effect, as a fraction of the initial cash (its size, either sign)."""
        return abs(self.explained_effect) / self.init_cash

    def breaches(self, max_drift_rate: float) -> list[str]:
        """Why this report fails its bounds (empty: within them)."""
        out = []
        if self.unexplained:
            out.append(f"{self.unexplained} unexplained difference(s)")
        if self.drift_rate > max_drift_rate:
            out.append(f"the explained differences move equity by {self.explained_effect:+,.2f} {self.quote}, "
                       f"{self.drift_rate:.2%} of the initial cash, beyond the bound of {max_drift_rate:.2%}")
        return out

    def summary(self) -> str:
        """One line: 'identical: 42 of 42 fills', or the differences per kind with their effects."""
        head = f"identical: {self.matched.identical_fills} of {self.fills} fills"
        if not self.differences:
            return head
        kinds = ", ".join(f"{KINDS[k]} {n} ({effect:+,.2f} {self.quote})" for k, (n, effect)
                          in self.matched.by_kind().items())
        return f"{head}; differences: {kinds}"

    def as_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "quote": self.quote, "candles": self.candles,
                "first_ms": self.first_ms, "last_ms": self.last_ms, "restarts": self.restarts, "fills": self.fills,
                "replay_fills": self.replay_fills, "orders": self.matched.orders,
                "identical_orders": self.matched.identical_orders, "identical_fills": self.matched.identical_fills,
                "init_cash": self.init_cash, "live_equity": self.live_equity, "replay_equity": self.replay_equity,
                "effect": self.effect, "explained_effect": self.explained_effect, "residual": self.residual,
                "unexplained": self.unexplained, "drift_rate": self.drift_rate,
                "by_kind": {k: {"differences": n, "effect": e} for k, (n, e) in self.matched.by_kind().items()},
                "differences": [_difference(d) for d in self.differences]}


def measure_drift(journal: Journal, name: str, store: Store,
                  record: dict[str, Any] | None = None) -> DriftReport | None:
    """Replay what `name`'s journal traded and match it; None when it has handled no candle, or has no snapshot
    to read the deployment from and no `record` is given (`{"label", "exchange", "spec"}`, as a snapshot keeps
    it). Raises `LookupError` when the cache does not hold exactly the candles it handled."""
    snapshot = journal.latest_snapshot(name)
    entries = journal.events_after(name)
    closed = [e.event.ts_ms for e in entries if e.event.kind == "bar_closed"]
    record = (snapshot.state.get("deployment") if snapshot is not None else None) or record
    marks = journal.equity(name)
    if not closed or not record or not marks:
        return None
    spec = RunSpec.model_validate(record["spec"])
    key = SeriesKey(record["exchange"], spec.market.symbol, spec.market.timeframe)
    result, close = _replayed(store, key, spec, name, closed)
    base, quote = spec.market.symbol.split("/")
    restarts = tuple(s.last_candle_ms for s in journal.starts(name) if s.last_candle_ms is not None)
    context = Context(close, spec.costs.slippage_rate, restarts)
    live: list[Outcome] = outcomes((e.event for e in entries), base, quote)
    matched = match(live, outcomes(result.events, base, quote), context)
    return DriftReport(record["label"], quote, len(closed), closed[0], closed[-1], len(restarts),
                       sum(len(o.fills) for o in live), len(result.fills), spec.costs.init_cash, marks[-1].equity,
                       float(result.equity[-1]), matched)


def _replayed(store: Store, key: SeriesKey, spec: RunSpec, name: str, closed: list[int]) -> tuple[ReplayResult, float]:
    """Replay, bar by bar, over the cached candles the journal handled, the strategy deciding on the whole cached
    history before them (as the runner's window did); with the last close."""
    history = Bars.from_frame(store.load(key, None, closed[-1] + key.timeframe_ms))
    lo = int(np.searchsorted(history.ts_ms, closed[0]))
    window = history.ts_ms[lo:]
    if len(window) != len(closed) or not np.array_equal(window, np.asarray(closed, dtype=window.dtype)):
        missing = sorted(set(closed) - set(window.tolist()))
        extra = sorted(set(window.tolist()) - set(closed))
        what = (f"lacks {len(missing)} of the {len(closed)} candles the journal handled (first: {missing[0]})"
                if missing else f"holds {len(extra)} candle(s) the journal never handled (first: {extra[0]})")
        raise LookupError(f"the cache {key} {what}; fill it with `gauntlet data fetch` (the runner's exchange) and "
                          f"measure again")
    ref = spec.strategy.ref
    strategy = load_strategy(spec.strategy.path if ref.endswith(".py") and spec.strategy.path else ref)
    full = strategy.signals(history, strategy.params(spec.params))
    signals = Signals(**{column: values[lo:] for column, values in full.columns.items()})
    rules, _ = rules_from_sources(key.symbol, store.require(key).sources)
    result = replay(history[lo:], signals, spec.costs.to_costs(), spec.realism.to_realism(), rules,
                    strategy.risk_rules(spec.risk.to_config()), scope=name, bar_by_bar=True)
    return result, float(history.close[-1])


def _difference(d: Difference) -> dict[str, Any]:
    def side(o: Outcome | None) -> dict[str, Any] | None:
        if o is None:
            return None
        px = o.avg_px
        return {"client_id": o.client_id, "status": o.status, "side": o.side, "qty": o.filled_qty,
                "px": None if math.isnan(px) else px, "fee": o.fee, "reason": o.reason or None, "rule": o.rule}

    return {"kind": d.kind, "ts_ms": d.ts_ms, "client_ids": list(d.client_ids), "live": side(d.live),
            "replay": side(d.replay), "effect": d.effect, "detail": d.detail, "follows": d.follows}
