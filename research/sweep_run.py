"""A sweep as a run: load, score, confirm the top with vectorbt, gather the overfitting evidence, write
`reports/<run-id>/`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.ohlcv import Store
from engine.strategy.contract import Strategy
from research.heatmap import default_axes, write_heatmap
from engine.sim.metrics_nb import METRICS
from research.overfitting import evidence
from research.candidates import sweep_candidates
from research.runs import RunFolder, base_record
from engine.sim.metrics_nb import window_years
from engine.ohlcv.timeframe import timeframe_ms
from research.sweep import (Market, Scores, SweepSpec, day_ends, fill_bars, grid_of, load_markets, results_frame,
                            score_combos, screenable, vbt_freq)

CONFIRM_TOP = 3
_RTOL, _ATOL = 1e-9, 1e-12


@dataclass
class SweepOutcome:
    spec: SweepSpec
    strategy: Strategy
    grid: dict[str, list[Any]]
    markets: list[Market]
    results: pd.DataFrame  # every symbol, best first by the objective within each symbol
    evidence: dict[str, dict]  # symbol -> DSR / PBO of the best combination
    confirmed: list[dict]  # top combinations re-run through vectorbt, with its Portfolio stats


def run_sweep(spec: SweepSpec, store: Store | None = None,
              progress: Callable[[str], Callable[[int, int], None] | None] | None = None,
              workers: int | None = None) -> SweepOutcome:
    """Validate everything first (nothing is written for a run that fails), then score every symbol on
    `workers` cores (default: all; not part of the spec, since the figures do not depend on it)."""
    strategy, grid, combos = grid_of(spec)
    warmup = max(p.warmup for p in combos)
    markets = load_markets(spec, store or Store(), min_bars=warmup + 2)
    frames, found, confirmed = [], {}, []
    for market in markets:
        scores = score_combos(strategy, market.bars, combos, spec.costs, spec.timeframe, spec.engine,
                              progress(market.symbol) if progress else None, workers=workers)
        frame = results_frame(strategy, combos, market.symbol, scores)
        best = int(np.nanargmax(np.nan_to_num(frame[spec.objective].to_numpy(), nan=-np.inf)))
        found[market.symbol] = {"best": {n: getattr(combos[best], n) for n in strategy.param_types},
                                **evidence(scores.daily_values, spec.costs.init_cash, best)}
        found[market.symbol]["gaps"] = market.gaps.run_record(  # the candidate's fills right after a gap
            fill_bars(strategy, market.bars, combos[best], spec.costs, spec.timeframe), market.bars.ts_ms)
        confirmed += confirm_top(strategy, market, combos, scores, spec)
        frames.append(frame.sort_values(spec.objective, ascending=False, na_position="last", kind="stable"))
    return SweepOutcome(spec, strategy, grid, markets, pd.concat(frames, ignore_index=True), found, confirmed)


def confirm_top(strategy: Strategy, market: Market, combos: list, scores: Scores, spec: SweepSpec,
                top: int = CONFIRM_TOP) -> list[dict]:
    """Re-run the best combinations through `Portfolio.from_signals`; when they were screened by the fused
    kernel, the two must agree to 1e-9 or the sweep stops."""
    from research.vbt_adapter import portfolio, score

    order = np.argsort(-np.nan_to_num(scores.metrics[:, METRICS.index(spec.objective)], nan=-np.inf), kind="stable")
    chosen = [int(i) for i in order[:top]]
    pf = portfolio(market.bars, [strategy.signals(market.bars, combos[i]) for i in chosen], spec.costs,
                   vbt_freq(spec.timeframe))
    years = window_years(market.bars.ts_ms, timeframe_ms(spec.timeframe))
    again = score(pf, spec.costs, years, day_ends(market.bars.ts_ms))
    if screenable(strategy, spec.engine):
        for j, i in enumerate(chosen):
            if not np.allclose(again.metrics[j], scores.metrics[i], rtol=_RTOL, atol=_ATOL, equal_nan=True):
                raise RuntimeError(f"the fused kernel and vectorbt disagree for {combos[i]} on {market.symbol}: "
                                   f"{scores.metrics[i].tolist()} vs {again.metrics[j].tolist()}; please report this")
    return [{"symbol": market.symbol, "params": asdict(combos[i]),
             "vectorbt_stats": {k: _text(v) for k, v in pf.stats(column=j, silence_warnings=True).items()}}
            for j, i in enumerate(chosen)]


def _text(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def write_sweep(outcome: SweepOutcome, command: list[str], reports_dir: Path | None = None,
                extra: Callable[[Path], None] | None = None) -> Path:
    """Everything into a staging folder (and `extra(folder)`, e.g. a notebook), then published at once."""
    spec = outcome.spec
    config = {"strategy": outcome.strategy.name, **asdict(spec), "grid": outcome.grid, "combinations":
              int(len(outcome.results) / max(1, len(outcome.markets)))}
    identity = {**config, "data": [m.fingerprint for m in outcome.markets]}
    with RunFolder.new(outcome.strategy.name, identity, reports_dir) as folder:
        run_id = folder.run_id
        outcome.results.to_parquet(folder.path("results.parquet"), index=False)
        outcome.results.to_csv(folder.path("results.csv"), index=False)
        axes = default_axes(outcome.grid)
        for market in outcome.markets if axes else []:
            rows = outcome.results[outcome.results["symbol"] == market.symbol]
            write_heatmap(rows, folder.path(f"heatmap_{market.symbol.replace('/', '-')}.html"), *axes, spec.objective,
                          title=f"{outcome.strategy.name} {market.symbol} {spec.timeframe}: {spec.objective}")
        record = base_record("sweep", run_id, command, config, [m.fingerprint for m in outcome.markets])
        record["results"] = {"top": outcome.results.groupby("symbol", sort=False).head(5).to_dict("records"),
                             "evidence": outcome.evidence, "confirmed_by_vectorbt": outcome.confirmed}
        record.update(sweep_candidates(outcome))  # strategy source and each candidate's complete spec
        record["headline"] = headline(outcome)
        return folder.complete(record, extra)


def headline(outcome: SweepOutcome) -> str:
    parts = []
    for symbol, found in outcome.evidence.items():
        params = ",".join(f"{k}={v}" for k, v in found["best"].items())
        dsr = f"{found['dsr']:.3f}" if found.get("dsr") is not None else "n/a"
        pbo = f"{found['pbo']:.2f}" if found.get("pbo") is not None else "n/a"
        parts.append(f"{symbol} candidate {params} DSR {dsr} PBO {pbo}")
    return "; ".join(parts)
