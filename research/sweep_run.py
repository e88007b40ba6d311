"""A sweep as a run: load, score, confirm the top with vectorbt, gather the overfitting evidence, write
`reports/<run-id>/`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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
from research.executors import Executor, LocalExecutor, ScoreJob, ScoreRequest, data_source, failures
from research.runs import RunFolder, base_record
from engine.sim.metrics_nb import window_years
from engine.ohlcv.timeframe import timeframe_ms
from research.sweep import (Market, Scores, SweepSpec, day_ends, fill_bars, grid_of, load_markets, results_frame,
                            screenable, vbt_freq)

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
    failed: list[dict] = field(default_factory=list)  # parameter sets that failed on every try (`executors.failures`)
    executor: dict = field(default_factory=dict)  # where it ran (`Executor.record`): beside the config, not in it


def run_sweep(spec: SweepSpec, store: Store | None = None,
              progress: Callable[[str], Callable[[int, int], None] | None] | None = None,
              workers: int | None = None, executor: Executor | None = None) -> SweepOutcome:
    """Validate everything first (nothing is written for a run that fails), then score every symbol on
    `executor` (default: this process on `workers` cores, all by default; neither is part of the spec,
    since the figures do not depend on them)."""
    strategy, grid, combos = grid_of(spec)
    warmup = max(p.warmup for p in combos)
    store = store or Store()
    markets = load_markets(spec, store, min_bars=warmup + 2)
    executor = executor or LocalExecutor(workers)
    job = ScoreJob(strategy, spec.costs, spec.timeframe, spec.engine, data_source(spec, store))
    requests = [ScoreRequest(m, tuple(combos), label="sweep") for m in markets]
    answers = executor.score(job, requests, progress("sweep") if progress else None)
    frames, found, confirmed = [], {}, []
    for market, answer in zip(markets, answers, strict=True):
        kept, scores = answer.only_kept(f"on {market.symbol}")
        ok = [combos[i] for i in kept]
        frame = results_frame(strategy, ok, market.symbol, scores)
        best = int(np.nanargmax(np.nan_to_num(frame[spec.objective].to_numpy(), nan=-np.inf)))
        found[market.symbol] = {"best": {n: getattr(ok[best], n) for n in strategy.param_types},
                                **evidence(scores.daily_values, spec.costs.init_cash, best)}
        found[market.symbol]["gaps"] = market.gaps.run_record(  # the candidate's fills right after a gap
            fill_bars(strategy, market.bars, ok[best], spec.costs, spec.timeframe), market.bars.ts_ms)
        confirmed += confirm_top(strategy, market, ok, scores, spec)
        frames.append(frame.sort_values(spec.objective, ascending=False, na_position="last", kind="stable"))
    return SweepOutcome(spec, strategy, grid, markets, pd.concat(frames, ignore_index=True), found, confirmed,
                        failures(requests, answers), executor.record())


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
    rows = len(outcome.results) + len(outcome.failed)  # a failed parameter set is named once per symbol
    config = {"strategy": outcome.strategy.name, **asdict(spec), "grid": outcome.grid, "combinations":
              int(rows / max(1, len(outcome.markets)))}
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
        record.update(executor=outcome.executor, failed=outcome.failed)
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
