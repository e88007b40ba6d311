"""What a sweep or walk-forward records so `gauntlet replay --from-run` reproduces its candidate exactly:
the strategy (source path and sha256) and, per symbol, the complete spec of the candidate — the study's
window and costs, with the study's execution assumptions (ideal, no risk rules) — plus, for a walk-forward,
the out-of-sample windows a replay covers by default."""

from __future__ import annotations

from typing import Any

import pandas as pd

from engine.ohlcv.timeframe import timeframe_ms
from engine.spec import CostsSpec, MarketSpec, RunSpec, StrategySpec
from engine.strategy.contract import Strategy
from research.runs import strategy_record
from research.sweep import SweepSpec


def _specs(strategy: Strategy, sweep: SweepSpec, chosen: dict[str, dict[str, Any] | None]) -> dict:
    described = strategy_record(strategy)
    costs = sweep.costs
    return {"strategy": described, "candidates": {
        symbol: RunSpec.sweep_like(
            StrategySpec(**described), params,
            MarketSpec(exchange=sweep.exchange, symbol=symbol, timeframe=sweep.timeframe, start=sweep.start,
                       end=sweep.end),
            CostsSpec(fee_rate=costs.fee_rate, slippage_rate=costs.slippage_rate, init_cash=costs.init_cash,
                      maker_fee_rate=costs.maker_fee_rate)).model_dump()
        for symbol, params in chosen.items() if params}}


def sweep_candidates(outcome: Any) -> dict:
    """`run.json` fields of a sweep: its strategy and, per symbol, the spec of the best combination."""
    return _specs(outcome.strategy, outcome.spec, {s: found["best"] for s, found in outcome.evidence.items()})


def walkforward_candidates(outcome: Any) -> dict:
    """`run.json` fields of a walk-forward: strategy, per-symbol candidate specs over the whole span, and the
    out-of-sample windows (UTC, end exclusive) in fold order."""
    chosen = {s: summary.get("candidate", summary.get("recommendation")) for s, summary in outcome.summary.items()}
    record = _specs(outcome.strategy, outcome.spec.sweep, chosen)
    step = timeframe_ms(outcome.spec.sweep.timeframe)
    ts = {m.symbol: m.bars.ts_ms for m in outcome.markets}
    windows: dict[str, list[list[str]]] = {}
    for r in outcome.folds:
        start, last = int(ts[r.symbol][r.fold.oos_start]), int(ts[r.symbol][r.fold.oos_end - 1])
        windows.setdefault(r.symbol, []).append([_iso(start), _iso(last + step)])
    record["oos_windows"] = windows
    return record


def _iso(ts_ms: int) -> str:
    return pd.Timestamp(ts_ms, unit="ms", tz="UTC").isoformat()


def legacy_candidates(record: dict) -> dict[str, dict]:
    """Candidate specs rebuilt from the config of a run written before runs recorded them (its window and
    costs were in the config all along; its strategy source was not recorded)."""
    config, results = record["config"], record.get("results", {})
    if record["kind"] == "sweep":
        chosen = {s: found.get("best") for s, found in results.get("evidence", {}).items()}
    else:
        chosen = {s: summary.get("candidate", summary.get("recommendation")) for s, summary in results.items()
                  if isinstance(summary, dict)}
    costs = config.get("costs", {})
    return {symbol: RunSpec.sweep_like(
        StrategySpec(name=config["strategy"], ref=config["strategy"]), params,
        MarketSpec(exchange=config["exchange"], symbol=symbol, timeframe=config["timeframe"], start=config.get("start"),
                   end=config.get("end")),
        CostsSpec(**{k: v for k, v in costs.items() if k in CostsSpec.model_fields})).model_dump()
        for symbol, params in chosen.items() if params}
