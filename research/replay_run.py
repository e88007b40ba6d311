"""`gauntlet replay` as a run: replay one complete spec (`engine.spec.RunSpec`, resolved by
`research.replay_spec`) through the event loop, optionally prove parity with the sweep, and write the books,
the spec and a tearsheet."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.core.market_rules import rules_from_sources
from engine.sim.metrics_nb import METRICS, metrics_from_values_nb, window_years
from engine.ohlcv import SeriesKey, Store, to_ms
from engine.ohlcv.timeframe import timeframe_ms
from engine.replay import ReplayResult, replay
from engine.spec import RunSpec
from engine.strategy.contract import Strategy, load_strategy
from research.gaps import describe_record, gap_summary, refuse_long_gaps
from research.runs import RunFolder, base_record
from research.sweep import vbt_freq

if TYPE_CHECKING:  # vectorbt loads (seconds) only when --parity asks for it
    from research.parity import ParityReport


@dataclass
class ReplayOutcome:
    spec: RunSpec
    strategy: Strategy
    params: Any
    key: SeriesKey
    result: ReplayResult
    metrics: dict
    rules_source: str
    fingerprint: dict
    parity: ParityReport | None = None
    differences: dict | None = None
    gaps: dict | None = None  # the window's gaps and the fills right after one (research.gaps)
    notes: list[str] = field(default_factory=list)  # overrides, the window, a changed source
    driver: str = "replay"  # or "bar_by_bar": one closed candle at a time


def run_replay(spec: RunSpec, store: Store | None = None, parity: bool = False,
               strategy: Strategy | None = None, max_gap: str | None = None, bar_by_bar: bool = False) -> ReplayOutcome:
    """Replay a complete spec; `strategy` saves loading it again when the caller has it; `max_gap` (a duration)
    refuses data whose longest gap is longer; `bar_by_bar` drives the loop one closed candle at a time."""
    store = store or Store()
    strategy = strategy or load_strategy(spec.strategy.ref)
    params = strategy.params(spec.params)
    m = spec.market
    key = SeriesKey(m.exchange, m.symbol, m.timeframe)
    start_ms, end_ms = to_ms(m.start), to_ms(m.end)
    loaded = store.load_checked(key, start_ms, end_ms)
    bars = Bars.from_frame(loaded.frame)
    if len(bars) < params.warmup + 2:
        raise ValueError(f"{key}: {len(bars)} bars; {strategy.name} {params} needs at least {params.warmup + 2}")
    gaps = gap_summary(bars, key.timeframe)
    refuse_long_gaps(gaps, max_gap, str(key))
    rules, rules_source = rules_from_sources(key.symbol, store.require(key).sources)
    signals = strategy.signals(bars, params)
    costs, realism, risk = spec.costs.to_costs(), spec.realism.to_realism(), strategy.risk_rules(spec.risk.to_config())
    result = replay(bars, signals, costs, realism, rules, risk, bar_by_bar=bar_by_bar)
    outcome = ReplayOutcome(spec, strategy, params, key, result, books_metrics(result, costs, key.timeframe),
                            rules_source, loaded.fingerprint, driver="bar_by_bar" if bar_by_bar else "replay")
    if parity:
        from research.parity import attribute, check_parity, explain

        outcome.parity, ideal = check_parity(bars, signals, costs, vbt_freq(key.timeframe))
        outcome.differences = explain(result, ideal)
        outcome.differences["attribution"] = attribute(bars, signals, costs, realism, rules, risk, ideal)
    outcome.gaps = gaps.run_record([f.bar for f in result.fills], bars.ts_ms)
    return outcome


def books_metrics(result: ReplayResult, costs: Costs, timeframe: str) -> dict:
    trips = result.ledger.round_trips
    closed = np.ones(len(trips), dtype=bool)
    pnl = np.array([t.pnl for t in trips], dtype=np.float64)
    if result.ledger.qty != 0:  # the open position counts as a round trip, as vectorbt counts it
        closed, pnl = np.r_[closed, False], np.r_[pnl, 0.0]
    years = window_years(result.bars.ts_ms, timeframe_ms(timeframe))  # calendar time: gaps count
    values = metrics_from_values_nb(result.equity, result.position, costs.init_cash, years, closed, pnl)
    out = dict(zip(METRICS, values.tolist()))
    out.update(round_trips=len(trips), fees_paid=result.ledger.fees_paid, interest_paid=result.ledger.interest_paid,
               short_round_trips=sum(1 for t in trips if t.direction < 0), final_equity=float(result.equity[-1]),
               orders=len(result.orders), fills=len(result.fills))
    return out


def books(result: ReplayResult) -> dict[str, pd.DataFrame]:
    """Orders, fills, round trips and equity as tables."""
    ts = pd.DatetimeIndex(result.bars.ts_ms.astype("datetime64[ms]")).tz_localize("UTC")
    orders = pd.DataFrame([{**{k: getattr(o, k) for k in ("client_id", "side", "qty", "quote_qty", "filled_qty", "spent",
                                                          "avg_px", "fees", "decided_bar", "live_from_bar", "reason")},
                            "type": o.type.value, "tif": o.tif.value, "status": o.status.value,
                            "decided_at": ts[o.decided_bar] if o.decided_bar >= 0 else pd.NaT} for o in result.orders])
    fills = pd.DataFrame([f._asdict() for f in result.fills])
    if len(fills):
        fills.insert(0, "timestamp", ts[fills["bar"].to_numpy()])
    trips = pd.DataFrame([t._asdict() for t in result.ledger.round_trips])
    equity = pd.DataFrame({"timestamp": ts, "equity": result.equity, "position": result.position})
    return {"orders": orders, "fills": fills, "round_trips": trips, "equity": equity}


def write_replay(outcome: ReplayOutcome, command: list[str], reports_dir: Path | None = None,
                 extra: Callable[[Path], None] | None = None) -> Path:
    """The books, metrics and tearsheet into a staging folder (and `extra(folder)`, e.g. a notebook), then
    published at once."""
    from research.tearsheet import write_tearsheet

    spec = outcome.spec
    config = {"strategy": outcome.strategy.name, "params": asdict(outcome.params), "series": str(outcome.key),
              "start": spec.market.start, "end": spec.market.end, "costs": spec.costs.model_dump(),
              "parity": outcome.parity is not None, "market_rules": outcome.rules_source, "driver": outcome.driver}
    identity = {**config, "kind": "replay", "spec": spec.model_dump(), "data": outcome.fingerprint}
    with RunFolder.new(outcome.strategy.name, identity, reports_dir) as folder:
        run_id = folder.run_id
        tables = books(outcome.result)
        for name, table in tables.items():
            table.to_parquet(folder.path(f"{name}.parquet"), index=False)
        folder.path("metrics.json").write_text(json.dumps(outcome.metrics, indent=1))
        equity = tables["equity"].set_index("timestamp")["equity"]
        close = pd.Series(outcome.result.bars.close, index=equity.index)
        write_tearsheet(equity, close, spec.costs.init_cash, folder.path("quantstats.html"),
                        f"{outcome.strategy.name} {outcome.params} on {outcome.key}")
        record = base_record("replay", run_id, command, config, [outcome.fingerprint])
        record.update(strategy=spec.strategy.model_dump(), spec=spec.model_dump(), notes=outcome.notes)
        folder.path("spec.toml").write_text(spec.to_toml())
        record["results"] = {"metrics": outcome.metrics}
        if outcome.parity is not None:
            record["results"]["parity"] = asdict(outcome.parity)
            record["results"]["differences"] = outcome.differences
        record["gaps"] = outcome.gaps
        record["headline"] = headline(outcome)
        return folder.complete(record, extra)


def headline(outcome: ReplayOutcome) -> str:
    m = outcome.metrics
    text = (f"{outcome.key} {outcome.params}: return {m['total_return']:.2%}, sharpe {m['sharpe']:.2f}, "
            f"max drawdown {m['max_drawdown']:.2%}, {m['round_trips']} round trips, fees {m['fees_paid']:.2f}")
    if outcome.gaps is not None:
        text += "; " + describe_record(outcome.gaps)
    if outcome.parity is not None:
        text += "; parity " + ("ok" if outcome.parity.ok else "BROKEN")
    return text
