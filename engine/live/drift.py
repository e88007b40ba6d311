"""Drift, as far as this gauntlet measures it: the candles a deployment's journal says it handled, replayed bar by
bar from the cache with the spec it traded (kept in its snapshots), and its fills matched one by one with
replay's. A paper deployment that ran without interruption on candles that came on time comes out identical;
every other difference is counted as unexplained until the drift report that explains them (a late candle, a
restart, a refusal by the runner) exists, and the equity effect is in quote currency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.core.market_rules import rules_from_sources
from engine.live.journal import Journal
from engine.ohlcv.layout import SeriesKey
from engine.ohlcv.store import Store
from engine.replay import replay
from engine.spec import RunSpec
from engine.strategy.bars import Bars
from engine.strategy.contract import load_strategy
from engine.strategy.signals import Signals

__all__ = ["Drift", "measure_drift"]


@dataclass(frozen=True, slots=True)
class Drift:
    candles: int
    fills: int  # the journal's
    replay_fills: int
    unexplained: int  # fills on one side with no identical fill on the other
    effect: float  # the journal's final equity minus replay's, quote
    drift_rate: float  # |effect| / initial cash


def measure_drift(journal: Journal, name: str, store: Store) -> Drift | None:
    """Replay what `name`'s journal traded and compare; None when it has no candle or no snapshot to read the
    deployment from. Raises `LookupError` when the cache lacks the candles."""
    snapshot = journal.latest_snapshot(name)
    closed = [e.event.ts_ms for e in journal.events_of(name, ["bar_closed"])]
    record = snapshot.state.get("deployment") if snapshot is not None else None
    if not closed or not record:
        return None
    spec = RunSpec.model_validate(record["spec"])
    key = SeriesKey(record["exchange"], spec.market.symbol, spec.market.timeframe)
    history = Bars.from_frame(store.load(key, None, closed[-1] + key.timeframe_ms))
    lo = int(np.searchsorted(history.ts_ms, closed[0]))
    if len(history) - lo != len(closed):
        raise LookupError(f"{key}: the cache holds {len(history) - lo} of the {len(closed)} candles {name} handled")
    strategy = load_strategy(spec.strategy.ref)
    full = strategy.signals(history, strategy.params(spec.params))
    signals = Signals(**{column: values[lo:] for column, values in full.columns.items()})
    rules, _ = rules_from_sources(key.symbol, store.require(key).sources)
    result = replay(history[lo:], signals, spec.costs.to_costs(), spec.realism.to_realism(), rules,
                    strategy.risk_rules(spec.risk.to_config()), scope=name, bar_by_bar=True)
    ours = [(f.client_id, f.ts_ms, f.qty, f.px, f.fee) for f in journal.fills_since(name)]
    theirs = [(f.order_id, f.ts_ms, f.qty, f.px, f.fee) for f in result.fills]
    unexplained = len(set(ours) ^ set(theirs))
    marks = journal.equity(name)
    effect = (marks[-1].equity if marks else spec.costs.init_cash) - float(result.equity[-1])
    return Drift(len(closed), len(ours), len(theirs), unexplained, effect, abs(effect) / spec.costs.init_cash)
