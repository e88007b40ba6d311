"""Parameter sweeps: every grid combination over one or more cached symbols, scored with the execution
conventions of `engine.core.costs`, in bounded memory.

Two paths give the same numbers. Strategies that declare a `SCREEN` kernel (the moving-average
crossings) run through the fused numba kernel of `research.screen_nb`; vectorbt then re-runs the top
combinations and the sweep refuses to report if the two disagree. Every other strategy runs through
`Portfolio.from_signals` in batches of columns sized to a memory budget. Both paths use every core unless
told otherwise (`workers`): the kernel on numba threads, the vectorbt batches on worker processes
(`research.parallel`); either way each combination is computed whole by one worker, so the figures are the
same bits on one core as on many.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from engine.core.calendar import DAY_MS
from engine.strategy.bars import Bars
from engine.core.costs import Costs
from engine.ohlcv import SeriesKey, Store, to_ms
from engine.ohlcv.timeframe import timeframe_ms
from engine.strategy.signals import Signals
from engine.strategy.contract import Strategy, load_strategy
from engine.sim.metrics_nb import METRICS, window_years
from research.gaps import GapSummary, gap_summary, refuse_long_gaps
from research.grid import parse_grid
from research.parallel import numba_threads, ordered_map, resolve_workers
from research.screen_nb import ma_cross_screen_nb, ma_matrix_nb, sma_cross_screen_nb, tiled_order

MEMORY_BUDGET_BYTES = 1_000_000_000  # for vectorbt batches, all workers together: ~40 bytes per bar per column
_BYTES_PER_BAR_COLUMN = 40
POOL_MIN_WORK = 50_000_000  # bar-combinations below which vectorbt stays in-process: a worker spends ~5 s importing
SCREEN_BATCH_MIN = 256  # combinations per call of the fused kernel (at most 4 calls: steps of the progress bar)
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class SweepSpec:
    strategy: str
    exchange: str
    symbols: tuple[str, ...]
    timeframe: str
    start: str | None = None
    end: str | None = None
    params: tuple[str, ...] = ()  # NAME=VALUES overrides of the strategy's GRID
    costs: Costs = field(default_factory=Costs)
    engine: str = "auto"  # auto (fused kernel where the strategy has one) | vectorbt
    objective: str = "sharpe"
    max_gap: str | None = None  # refuse data whose longest gap is longer (a duration: 2h, 1d)


@dataclass(frozen=True, slots=True)
class Market:
    """One symbol's bars for a run, the fingerprint of the cache files they came from, and their gaps."""

    symbol: str
    bars: Bars
    fingerprint: dict
    gaps: GapSummary


@dataclass(frozen=True, slots=True)
class Scores:
    metrics: np.ndarray  # combos x METRICS
    daily_values: np.ndarray  # days x combos: value at the last bar of each UTC day


def day_ends(ts_ms: np.ndarray) -> np.ndarray:
    """Position of the last bar of each UTC day."""
    day = ts_ms // DAY_MS
    return np.flatnonzero(np.r_[day[1:] != day[:-1], True])


def load_markets(spec: SweepSpec, store: Store, min_bars: int) -> list[Market]:
    """The bars of every symbol, or a one-line error saying what to change."""
    start_ms, end_ms = to_ms(spec.start), to_ms(spec.end)
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise ValueError(f"empty date range: --start {spec.start} is not before --end {spec.end}")
    markets = []
    for symbol in spec.symbols:
        key = SeriesKey(spec.exchange, symbol, spec.timeframe)
        loaded = store.load_checked(key, start_ms, end_ms)
        frame = loaded.frame
        if len(frame) < min_bars:
            raise ValueError(f"{key}: {len(frame)} bars between {spec.start or 'the start'} and "
                             f"{spec.end or 'the end'}; the sweep needs at least {min_bars} (the longest warm-up "
                             f"plus two); widen the range or shrink the slow windows")
        bars = Bars.from_frame(frame)
        gaps = gap_summary(bars, spec.timeframe)
        refuse_long_gaps(gaps, spec.max_gap, str(key))
        markets.append(Market(symbol, bars, loaded.fingerprint, gaps))
    return markets


def grid_of(spec: SweepSpec) -> tuple[Strategy, dict[str, list[Any]], list[Any]]:
    strategy = load_strategy(spec.strategy)
    grid = parse_grid(strategy, spec.params)
    combos = list(strategy.grid_params(grid))
    if not combos:
        raise ValueError(f"the grid {grid} has no valid combination for {strategy.name} (e.g. fast must be < slow)")
    if spec.objective not in METRICS:
        raise ValueError(f"unknown objective {spec.objective!r}; choose from {', '.join(METRICS)}")
    return strategy, grid, combos


def screenable(strategy: Strategy, engine: str) -> bool:
    if engine not in ("auto", "vectorbt"):
        raise ValueError(f"unknown engine {engine!r}: auto or vectorbt")
    return engine == "auto" and getattr(strategy.module, "SCREEN", {}).get("kernel") == "ma_cross"


def score_combos(strategy: Strategy, bars: Bars, combos: Sequence[Any], costs: Costs, timeframe: str,
                 engine: str = "auto", progress: Progress | None = None, window: tuple[int, int] | None = None,
                 every_bar: bool = False, workers: int | None = None, warmup: int | None = None) -> Scores:
    """Metrics and values (at each UTC day's last bar, or at `every_bar`) for every combination, trading
    only inside `window` = [lo, hi) bar positions (default: all bars). Up to the longest warm-up of history
    before `lo` feeds the indicators, never the trading or the scores. `workers` cores (default: all) share
    the combinations; the figures do not depend on how many.

    `warmup` is that longest warm-up when `combos` is a part of a larger grid (default: the longest of
    `combos`): given the grid's, a part's indicators start on the same bar as the whole grid's, so an
    executor that cuts a grid into parts gets the same bits for every combination (an average started
    elsewhere is another float)."""
    lo, hi = window if window is not None else (0, len(bars))
    lead = min(lo, warmup if warmup is not None else max(p.warmup for p in combos))
    view = bars[lo - lead: hi]
    span = view.ts_ms[lead:]
    sample_idx = lead + (np.arange(len(span)) if every_bar else day_ends(span))
    run = _screen if screenable(strategy, engine) else _vectorbt
    setup = _Setup(timeframe, window_years(span, timeframe_ms(timeframe)), resolve_workers(workers))
    return run(strategy, view, combos, costs, setup, lead, sample_idx, progress)


@dataclass(frozen=True, slots=True)
class _Setup:
    """How a scoring runs: the bar size (vectorbt's `freq`), the calendar years of the traded window (every
    annualization) and the cores to use."""

    timeframe: str
    years: float
    workers: int = 1


def fill_bars(strategy: Strategy, bars: Bars, p: Any, costs: Costs, timeframe: str,
              window: tuple[int, int] | None = None) -> np.ndarray:
    """Bar positions (in `bars`) of the fills of one combination traded inside `window`, as `score_combos`
    trades it: what a run checks against the gaps."""
    from research.vbt_adapter import portfolio

    lo, hi = window if window is not None else (0, len(bars))
    lead = min(lo, p.warmup)
    view = bars[lo - lead: hi]
    pf = portfolio(view[lead:], [trimmed(strategy.signals(view, p), lead)], costs, vbt_freq(timeframe))
    return pf.orders.records_arr["idx"].astype(np.int64) + lo


def _batches(total: int, size: int) -> list[slice]:
    return [slice(lo, min(lo + size, total)) for lo in range(0, total, size)]


def _screen(strategy: Strategy, bars: Bars, combos: Sequence[Any], costs: Costs, setup: _Setup, trade_from: int,
            sample_idx: np.ndarray, progress: Progress | None) -> Scores:
    ewm = bool(strategy.module.SCREEN["ewm"])
    _refuse_unpriced(bars)
    knobs = np.array([costs.fee_rate, costs.slippage_rate, costs.init_cash, setup.years])
    metrics, samples = np.empty((len(combos), len(METRICS))), np.empty((len(sample_idx), len(combos)))
    windows, fast, slow = _window_rows(combos)
    order = tiled_order(fast, slow)  # combinations that share windows run together
    parts = _batches(len(combos), -(-len(combos) // max(1, min(4, len(combos) // SCREEN_BATCH_MIN))))
    with numba_threads(setup.workers):
        mas = ma_matrix_nb(bars.close, windows, True) if ewm else None  # an exponential average runs from bar 0
        for part in parts:  # parts for the progress bar
            idx = order[part]
            if mas is not None:
                scored = ma_cross_screen_nb(bars.open, bars.close, mas, fast[idx], slow[idx], knobs, trade_from,
                                            sample_idx)
            else:  # simple averages: the kernel computes the ones it reads, a block of bars at a time
                scored = sma_cross_screen_nb(bars.open, bars.close, windows, fast[idx], slow[idx], knobs, trade_from,
                                             sample_idx)
            metrics[idx], samples[:, idx] = scored
            if progress:
                progress(part.stop, len(combos))
    return Scores(metrics, samples)


def _refuse_unpriced(bars: Bars) -> None:
    """The fused screen's loop divides by prices: a bar without a positive, finite open and close is named here
    rather than trading silently on it (the vectorbt engine, `--engine vectorbt`, takes such bars as they are)."""
    bad = ~(np.isfinite(bars.open) & np.isfinite(bars.close) & (bars.open > 0) & (bars.close > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"bar {i} ({pd.Timestamp(int(bars.ts_ms[i]), unit='ms', tz='UTC')}) of {int(bad.sum())} "
                         f"has open {bars.open[i]} and close {bars.close[i]}: the fused screen needs positive, finite "
                         "prices; repair the cache (gauntlet data verify) or sweep with --engine vectorbt")


def _window_rows(combos: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows, fast rows, slow rows): every window the combinations use, once, in order, and each
    combination's fast and slow window as a position in it."""
    windows = sorted({p.fast for p in combos} | {p.slow for p in combos})
    row = {w: i for i, w in enumerate(windows)}
    return (np.array(windows, dtype=np.int64), np.array([row[p.fast] for p in combos], dtype=np.int64),
            np.array([row[p.slow] for p in combos], dtype=np.int64))


@dataclass(frozen=True, slots=True)
class _VectorbtJob:
    """What every vectorbt batch of one scoring shares; sent once to each worker process."""

    strategy: str  # what `load_strategy` loads it from again in a worker
    bars: Bars
    costs: Costs
    setup: _Setup
    trade_from: int
    sample_idx: np.ndarray


def _vectorbt(strategy: Strategy, bars: Bars, combos: Sequence[Any], costs: Costs, setup: _Setup, trade_from: int,
              sample_idx: np.ndarray, progress: Progress | None) -> Scores:
    traded = len(bars) - trade_from
    pooled = setup.workers > 1 and traded * len(combos) >= POOL_MIN_WORK
    batch = int(np.clip(MEMORY_BUDGET_BYTES // (setup.workers if pooled else 1) // (traded * _BYTES_PER_BAR_COLUMN),
                        1, 256))
    if pooled:  # at least one batch per worker
        batch = min(batch, -(-len(combos) // setup.workers))
    parts = _batches(len(combos), batch)
    job = _VectorbtJob(strategy_ref(strategy), bars, costs, setup, trade_from, sample_idx)
    if pooled and len(parts) > 1:
        tasks = [[asdict(p) for p in combos[part]] for part in parts]
        scored = ordered_map(_score_batch_in_worker, tasks, setup.workers, _start_worker, (job,))
    else:
        scored = (_score_batch(job, strategy, combos[part]) for part in parts)
    metrics, samples = np.empty((len(combos), len(METRICS))), np.empty((len(sample_idx), len(combos)))
    for part, (batch_metrics, batch_samples) in zip(parts, scored, strict=True):  # in task order
        metrics[part], samples[:, part] = batch_metrics, batch_samples
        if progress:
            progress(part.stop, len(combos))
    return Scores(metrics, samples)


def _score_batch(job: _VectorbtJob, strategy: Strategy, combos: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(metrics, samples) of one batch of combinations through `Portfolio.from_signals`."""
    from research.vbt_adapter import portfolio, score

    signals = [trimmed(strategy.signals(job.bars, p), job.trade_from) for p in combos]
    pf = portfolio(job.bars[job.trade_from:], signals, job.costs, vbt_freq(job.setup.timeframe))
    scored = score(pf, job.costs, job.setup.years, job.sample_idx - job.trade_from)
    return scored.metrics, scored.samples


_worker: dict[str, Any] = {}  # a worker process's job and strategy, set once by `_start_worker`


def _start_worker(job: _VectorbtJob) -> None:
    _worker.update(job=job, strategy=load_strategy(job.strategy))


def _score_batch_in_worker(params: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    strategy = _worker["strategy"]
    return _score_batch(_worker["job"], strategy, [strategy.params(p) for p in params])


def strategy_ref(strategy: Strategy) -> str:
    """What `load_strategy` takes to load this strategy again in another process: its built-in name, its
    file, or its module."""
    module = strategy.module
    if module.__name__ == f"engine.strategy.builtins.{strategy.name}":
        return strategy.name
    if module.__name__.startswith("gauntlet_strategy_") and getattr(module, "__file__", None):
        return str(module.__file__)
    return module.__name__


def trimmed(signals: Signals, start: int) -> Signals:
    """Signals from bar `start` on (the bars before only warmed the indicators)."""
    return replace(signals, **{name: column[start:] for name, column in signals.columns.items()})


def vbt_freq(timeframe: str) -> str:
    return f"{timeframe_ms(timeframe) // 1000}s"


def results_frame(strategy: Strategy, combos: Sequence[Any], symbol: str, scores: Scores) -> pd.DataFrame:
    """One row per combination: symbol, one column per parameter, one per metric."""
    frame = pd.DataFrame([{"symbol": symbol, **{n: getattr(p, n) for n in strategy.param_types}} for p in combos])
    for i, name in enumerate(METRICS):
        frame[name] = scores.metrics[:, i]
    frame["trades"] = frame["trades"].astype(np.int64)
    return frame
