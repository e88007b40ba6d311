"""Walk-forward validation: for each fold, sweep in-sample, pick by the objective, trade the pick blind
out-of-sample; then stitch the out-of-sample equity, measure efficiency and parameter stability, name the
candidate (the most frequent pick) and judge it against the promotion gates (`research.gates`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.ohlcv import Store
from engine.strategy.contract import Strategy
from engine.sim.metrics_nb import METRICS, metrics_from_values_nb, window_years
from engine.ohlcv.timeframe import timeframe_ms
from research.gates import verdict
from research.overfitting import daily_returns, dsr_evidence, pbo_evidence, trial_sr_variance
from research.splits import Fold, SplitSpec, plan_folds
from research.executors import Executor, LocalExecutor, RequestScores, ScoreJob, ScoreRequest, data_source, failures
from research.sweep import Market, SweepSpec, day_ends, fill_bars, grid_of, load_markets

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class WalkForwardSpec:
    sweep: SweepSpec
    splits: SplitSpec
    min_trades: int = 0  # in-sample round trips a combination needs to be picked


@dataclass(frozen=True, slots=True)
class FoldResult:
    symbol: str
    fold: Fold
    pick: dict[str, Any] | None  # None: no combination met min_trades; the fold stays flat
    is_metrics: dict[str, float]
    oos_metrics: dict[str, float]
    oos_values: pd.Series  # value at every OOS bar, starting from the initial cash


@dataclass
class WalkForwardOutcome:
    spec: WalkForwardSpec
    strategy: Strategy
    grid: dict[str, list[Any]]
    markets: list[Market]
    folds: list[FoldResult]
    stitched: dict[str, pd.Series] = field(default_factory=dict)  # symbol -> stitched OOS equity
    summary: dict[str, dict] = field(default_factory=dict)  # symbol -> efficiency, stability, evidence, candidate, verdict
    failed: list[dict] = field(default_factory=list)  # parameter sets that failed on every try (`executors.failures`)
    executor: dict = field(default_factory=dict)  # where it ran (`Executor.record`): beside the config, not in it


def _pick(metrics: np.ndarray, objective: str, min_trades: int) -> int | None:
    score = np.nan_to_num(metrics[:, METRICS.index(objective)], nan=-np.inf)
    score[metrics[:, METRICS.index("trades")] < min_trades] = -np.inf
    return None if not np.isfinite(score).any() else int(np.argmax(score))


def in_sample_requests(markets: list[Market], plans: dict[str, list[Fold]], combos: list) -> list[ScoreRequest]:
    """Every fold's in-sample sweep, symbol by symbol, fold by fold."""
    return [ScoreRequest(m, tuple(combos), (f.is_start, f.is_end), label=f"fold {f.index} in-sample")
            for m in markets for f in plans[m.symbol]]


def out_of_sample_request(fold: Fold, in_sample: ScoreRequest, answer: RequestScores,
                          spec: WalkForwardSpec) -> ScoreRequest | None:
    """The fold's pick traded over its out-of-sample window, every bar valued; None when nothing was picked."""
    chosen = _pick(answer.scores.metrics, spec.sweep.objective, spec.min_trades)
    if chosen is None:
        return None
    return ScoreRequest(in_sample.market, (in_sample.combos[chosen],), (fold.oos_start, fold.oos_end), every_bar=True,
                        label=f"fold {fold.index} out-of-sample")


def fold_result(fold: Fold, in_sample: ScoreRequest, is_answer: RequestScores, oos: ScoreRequest | None,
                oos_answer: RequestScores | None, init_cash: float) -> FoldResult:
    """One fold from its in-sample answer and its pick's out-of-sample answer; a pick that fails
    out-of-sample stops the run (its fold could be neither traded nor left out silently)."""
    market = in_sample.market
    index = market.bars.index[fold.oos_start: fold.oos_end]
    if oos is None or oos_answer is None:
        return FoldResult(market.symbol, fold, None, {}, {}, pd.Series(init_cash, index=index))
    pick = oos.combos[0]
    if oos_answer.failed:
        raise RuntimeError(f"{market.symbol} fold {fold.index}: the in-sample pick {pick} failed out-of-sample: "
                           f"{oos_answer.failed[0]}")
    chosen = in_sample.combos.index(pick)
    return FoldResult(market.symbol, fold, asdict(pick), dict(zip(METRICS, is_answer.scores.metrics[chosen].tolist())),
                      dict(zip(METRICS, oos_answer.scores.metrics[0].tolist())),
                      pd.Series(oos_answer.scores.daily_values[:, 0], index=index))


def stitch(results: list[FoldResult], init_cash: float) -> pd.Series:
    """One OOS equity curve: each fold's returns, chained in time order from the initial cash."""
    returns = [np.diff(np.r_[init_cash, r.oos_values.to_numpy()]) / np.r_[init_cash, r.oos_values.to_numpy()[:-1]]
               for r in results]
    index = pd.DatetimeIndex(pd.concat([r.oos_values for r in results]).index)
    return pd.Series(init_cash * np.cumprod(1.0 + np.concatenate(returns)), index=index, name="oos_equity")


def stability(results: list[FoldResult], names: list[str]) -> pd.DataFrame:
    """How the picks move: per parameter, distinct values, the most common one and its share, spread, and
    the largest jump between consecutive folds relative to the range searched."""
    picks = pd.DataFrame([r.pick for r in results if r.pick is not None], columns=names)
    rows = []
    for name in names:
        values = picks[name]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        span = float(values.max() - values.min()) if numeric and len(values) else 0.0
        rows.append({"param": name, "distinct": int(values.nunique()), "mode": values.mode().iloc[0] if len(values) else None,
                     "mode_share": float((values == values.mode().iloc[0]).mean()) if len(values) else np.nan,
                     "mean": float(values.mean()) if numeric and len(values) else np.nan,
                     "cv": float(values.std() / values.mean()) if numeric and len(values) > 1 and values.mean() else np.nan,
                     "max_step": float(values.diff().abs().max()) if numeric and len(values) > 1 else np.nan,
                     "range": span})
    return pd.DataFrame(rows)


def candidate_of(results: list[FoldResult]) -> dict[str, Any] | None:
    """The parameters picked in the most folds; ties go to the most recent pick."""
    picks = [tuple(sorted(r.pick.items())) for r in results if r.pick is not None]
    if not picks:
        return None
    counts = Counter(picks)
    best = max(counts.values())
    latest = next(p for p in reversed(picks) if counts[p] == best)
    return dict(latest)


def efficiency(results: list[FoldResult]) -> dict[str, float]:
    """Walk-forward efficiency (Pardo): the picks' annualized out-of-sample return over their annualized
    in-sample return, as log growth rates over calendar time (log1p of the CAGR, so a short window's
    compounding cannot blow it up), and the same ratio for the Sharpe ratio.

    A ratio is reported only when its in-sample figure is positive: over a losing in-sample, a losing
    out-of-sample gives a positive "efficiency" (two losses make 3.76), which means nothing. Then the ratio
    is None and `wfe_note` says why."""
    picked = [r for r in results if r.pick is not None]
    if not picked:
        note = "no fold picked a combination"
        return {"wfe_return": None, "wfe_sharpe": None, "wfe_note": note, "folds_picked": 0, "folds": len(results)}
    with np.errstate(divide="ignore", invalid="ignore"):
        is_rate = float(np.mean([np.log1p(r.is_metrics["cagr"]) for r in picked]))
        oos_rate = float(np.mean([np.log1p(r.oos_metrics["cagr"]) for r in picked]))
        is_sharpe = float(np.nanmean([r.is_metrics["sharpe"] for r in picked]))
        oos_sharpe = float(np.nanmean([r.oos_metrics["sharpe"] for r in picked]))
    bad = [f"{what} {value:.3g}" for what, value in (("annual log return", is_rate), ("Sharpe", is_sharpe))
           if not value > 0]
    note = f"in-sample {' and '.join(bad)} {'is' if len(bad) == 1 else 'are'} not positive, so the ratio has no meaning"
    return {"wfe_return": oos_rate / is_rate if is_rate > 0 else None,
            "wfe_sharpe": oos_sharpe / is_sharpe if is_sharpe > 0 else None,
            **({"wfe_note": note} if bad else {}),
            "is_annual_log_return": is_rate, "oos_annual_log_return": oos_rate,
            "is_sharpe": is_sharpe, "oos_sharpe": oos_sharpe, "folds_picked": len(picked), "folds": len(results)}


def stitched_metrics(equity: pd.Series, results: list[FoldResult], init_cash: float, bar_ms: int) -> dict:
    """METRICS of the stitched OOS equity; its calendar time is the sum of the OOS windows' spans (the time
    between windows, if any, was not traded)."""
    values = equity.to_numpy()
    years = sum(window_years(r.oos_values.index.as_unit("ms").asi8, bar_ms) for r in results)
    out = dict(zip(METRICS, metrics_from_values_nb(values, np.zeros(len(values)), init_cash, years,
                                                     np.zeros(0, bool), np.zeros(0)).tolist()))
    picked = [r for r in results if r.pick is not None]
    bars = np.array([r.fold.oos_bars for r in picked], dtype=float)
    out["trades"] = float(sum(r.oos_metrics["trades"] for r in picked))
    out["exposure"] = float(np.dot(bars, [r.oos_metrics["exposure"] for r in picked]) / bars.sum()) if picked else np.nan
    out["win_rate"] = float(np.nanmean([r.oos_metrics["win_rate"] for r in picked])) if picked else np.nan
    return out


def run_walkforward(spec: WalkForwardSpec, store: Store | None = None,
                    progress: Callable[[str], Progress | None] | None = None,
                    executor: Executor | None = None) -> WalkForwardOutcome:
    """Validate the grid, the data and the split plan of every symbol first; nothing runs on bad input.
    Then `executor` (default: this process, every core) scores every fold's in-sample sweep and each
    symbol's whole-period sweep (for PBO) together, and then each fold's pick out-of-sample."""
    strategy, grid, combos = grid_of(spec.sweep)
    warmup = max(p.warmup for p in combos)
    store = store or Store()
    markets = load_markets(spec.sweep, store, min_bars=warmup + 2)
    plans = {m.symbol: plan_folds(m.bars.index, spec.splits, min_is_bars=warmup + 2) for m in markets}
    executor = executor or LocalExecutor()
    sweep = spec.sweep
    job = ScoreJob(strategy, sweep.costs, sweep.timeframe, sweep.engine, data_source(sweep, store))
    folds = [f for m in markets for f in plans[m.symbol]]
    in_sample, whole = in_sample_requests(markets, plans, combos), [ScoreRequest(m, tuple(combos)) for m in markets]
    answers = executor.score(job, in_sample + whole, progress("walk-forward in-sample") if progress else None)
    is_answers, whole_answers = answers[:len(in_sample)], answers[len(in_sample):]
    oos = [out_of_sample_request(*fold, spec) for fold in zip(folds, in_sample, is_answers, strict=True)]
    picked = [r for r in oos if r is not None]
    picked_answers = iter(executor.score(job, picked, progress("walk-forward out-of-sample") if progress else None))
    oos_answers = [next(picked_answers) if r is not None else None for r in oos]
    results = [fold_result(*fold, sweep.costs.init_cash)
               for fold in zip(folds, in_sample, is_answers, oos, oos_answers, strict=True)]
    failed = failures([*in_sample, *whole, *picked], [*answers, *(a for a in oos_answers if a is not None)])
    outcome = WalkForwardOutcome(spec, strategy, grid, markets, results, failed=failed, executor=executor.record())
    for market, whole_answer in zip(markets, whole_answers, strict=True):
        mine = [r for r in results if r.symbol == market.symbol]
        outcome.stitched[market.symbol] = stitch(mine, sweep.costs.init_cash)
        outcome.summary[market.symbol] = summarize(strategy, market, whole_answer, mine, outcome.stitched[market.symbol],
                                                   spec)
    return outcome


def summarize(strategy: Strategy, market: Market, whole: RequestScores, results: list[FoldResult], equity: pd.Series,
              spec: WalkForwardSpec) -> dict:
    """Efficiency, stability, stitched OOS metrics, the candidate, its overfitting evidence (DSR of the
    stitched OOS returns, trials = the grid's scored combinations; PBO of the whole-period search), the gaps,
    and the verdict."""
    sweep = spec.sweep
    kept, scores = whole.only_kept(f"on {market.symbol} over the whole period")
    whole_returns = daily_returns(scores.daily_values, sweep.costs.init_cash)
    stitched_daily = equity.to_numpy()[day_ends(equity.index.as_unit("ms").asi8)]
    oos_returns = daily_returns(stitched_daily[:, None], sweep.costs.init_cash)[:, 0]
    candidate = candidate_of(results)
    summary = {"efficiency": efficiency(results),
               "stability": stability(results, list(strategy.param_types)).to_dict("records"),
               "stitched_oos": stitched_metrics(equity, results, sweep.costs.init_cash, timeframe_ms(sweep.timeframe)),
               "candidate": candidate,
               "recommendation": candidate,  # the old name, still read by research/candidates.py and older runs
               "evidence": {**dsr_evidence(oos_returns, len(kept), trial_sr_variance(whole_returns),
                                          of="the stitched out-of-sample daily returns"),
                            **pbo_evidence(whole_returns), "trials": len(kept), "days": int(len(oos_returns))},
               "gaps": market.gaps.run_record(oos_fill_bars(strategy, market, results, sweep), market.bars.ts_ms)}
    summary["verdict"] = verdict(summary).record()
    return summary


def oos_fill_bars(strategy: Strategy, market: Market, results: list[FoldResult], sweep: SweepSpec) -> np.ndarray:
    """Bar positions of every out-of-sample fill of the folds' picks, as they were traded out-of-sample."""
    found = [fill_bars(strategy, market.bars, strategy.params(r.pick), sweep.costs, sweep.timeframe,
                       (r.fold.oos_start, r.fold.oos_end)) for r in results if r.pick is not None]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def fold_table(results: list[FoldResult], names: list[str]) -> pd.DataFrame:
    """One row per symbol and fold: the windows, the pick, and its in- and out-of-sample metrics."""
    rows = []
    for r in results:
        row = {"symbol": r.symbol, "fold": r.fold.index, "is_first": r.fold.is_first, "is_last": r.fold.is_last,
               "oos_first": r.fold.oos_first, "oos_last": r.fold.oos_last}
        row.update({n: (r.pick or {}).get(n) for n in names})
        row.update({f"is_{m}": r.is_metrics.get(m, np.nan) for m in ("sharpe", "cagr", "trades")})
        row.update({f"oos_{m}": r.oos_metrics.get(m, np.nan) for m in METRICS})
        rows.append(row)
    return pd.DataFrame(rows)
