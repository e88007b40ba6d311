"""Where a study's scoring runs: in this process (`LocalExecutor`) or on a Dask cluster
(`research.dask_executor.DaskExecutor`, imported only when asked for).

A sweep or a walk-forward states its work as `ScoreRequest`s (one symbol's combinations over one window)
and an executor answers each with its `Scores`, however it cut the work on the way. Every combination is
scored whole, by one worker, from the same bars with the same warm-up (`score_combos(warmup=...)`), so the
answer is the same bits on every executor: where the figures were computed is recorded beside a run's
config (`record()`), never in it, and never changes its id.

A combination whose scoring raises is tried again on its own before it is given up; one that still fails
is named in the answer (`RequestScores.failed`) with its error, so the run reports it by name instead of
one bad parameter set stopping a long study, or vanishing from its table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.core.costs import Costs
from engine.ohlcv import Store, to_ms
from engine.ohlcv.remote import RemotePath
from engine.sim.metrics_nb import METRICS
from engine.strategy import Strategy
from research.parallel import resolve_workers
from research.sweep import Market, Scores, SweepSpec, score_combos

__all__ = ["DataSource", "Executor", "ExecutorOptions", "LocalExecutor", "RequestScores", "ScoreJob", "ScoreRequest",
           "data_source", "failure_text", "failures", "open_executor", "score_one_by_one"]

Progress = Callable[[int, int], None]
EXECUTORS = ("local", "dask")


@dataclass(frozen=True, slots=True)
class DataSource:
    """Where the candles of a study came from: the cache root and the range the client read. A worker on
    another machine reads the same files from the same path (shared storage) or URL (`--cache`) and proves it
    read the same bytes by their fingerprint."""

    root: Path | RemotePath
    start_ms: int | None
    end_ms: int | None


def data_source(spec: SweepSpec, store: Store) -> DataSource:
    return DataSource(store.root, to_ms(spec.start), to_ms(spec.end))


@dataclass(frozen=True, slots=True)
class ScoreJob:
    """What every request of one study shares."""

    strategy: Strategy
    costs: Costs
    timeframe: str
    engine: str
    source: DataSource


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """Score `combos` on one market over `window` (bar positions [lo, hi); None: every bar), as
    `score_combos` does. `warmup` is the longest warm-up of the grid the combos belong to (default: theirs);
    `label` names the request where it failed ("fold 2 in-sample")."""

    market: Market
    combos: tuple[Any, ...]
    window: tuple[int, int] | None = None
    every_bar: bool = False
    label: str = "whole period"
    warmup: int | None = None

    def longest_warmup(self) -> int:
        """The warm-up every part of this request starts its indicators with."""
        return self.warmup if self.warmup is not None else max(p.warmup for p in self.combos)


@dataclass(frozen=True, slots=True)
class RequestScores:
    """The answer to one request: `scores` row for row in request order (a failed combination's row and
    samples are NaN) and the failed ones, position -> error."""

    scores: Scores
    failed: dict[int, str] = field(default_factory=dict)

    def kept(self, where: str) -> list[int]:
        """Positions of the combinations that were scored; none (every one failed `where`) stops the run."""
        kept = [i for i in range(len(self.scores.metrics)) if i not in self.failed]
        if not kept:
            raise RuntimeError(f"every parameter set failed {where}, e.g. {next(iter(self.failed.values()))}")
        return kept

    def only_kept(self, where: str) -> tuple[list[int], Scores]:
        """The positions scored and their Scores alone."""
        kept = self.kept(where)
        return kept, Scores(self.scores.metrics[kept], self.scores.daily_values[:, kept])


class Executor(Protocol):
    """Scores requests and says how it did (`record()`, for run.json); `unit` is what its progress counts."""

    unit: str
    dashboard: str | None

    def record(self) -> dict[str, Any]: ...

    def score(self, job: ScoreJob, requests: Sequence[ScoreRequest],
              progress: Progress | None = None) -> list[RequestScores]: ...


def score_one_by_one(score: Callable[[int], Scores], n: int) -> RequestScores:
    """A request's combinations scored one at a time by `score(i)`, after the request as a whole failed:
    the ones that still raise are named with their error; the others are the same bits as in a whole run
    (each combination is computed on its own either way)."""
    parts: dict[tuple[int, int], Scores] = {}
    failed: dict[int, str] = {}
    for i in range(n):
        try:
            parts[i, i + 1] = score(i)
        except Exception as exc:  # noqa: BLE001 - any error of a strategy's code is reported by parameter set
            failed[i] = describe_error(exc)
    return RequestScores(assemble(n, parts), failed)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def assemble(n: int, parts: dict[tuple[int, int], Scores]) -> Scores:
    """One request's Scores from its parts, keyed by the positions [lo, hi) they hold; rows of no part
    are NaN."""
    n_samples = next((p.daily_values.shape[0] for p in parts.values()), 0)
    metrics, samples = np.full((n, len(METRICS)), np.nan), np.full((n_samples, n), np.nan)
    for (lo, hi), part in parts.items():
        metrics[lo:hi], samples[:, lo:hi] = part.metrics, part.daily_values
    return Scores(metrics, samples)


@dataclass
class LocalExecutor:
    """Every request in this process, one after another, each on `workers` cores (default: all): numba
    threads for the fused kernel, worker processes for vectorbt batches (`research.parallel`)."""

    workers: int | None = None
    unit: str = "combinations"
    dashboard: str | None = None

    def record(self) -> dict[str, Any]:
        return {"name": "local", "workers": resolve_workers(self.workers)}

    def score(self, job: ScoreJob, requests: Sequence[ScoreRequest],
              progress: Progress | None = None) -> list[RequestScores]:
        total, done, answers = sum(len(r.combos) for r in requests), 0, []
        for request in requests:
            step = (lambda d, _t, base=done: progress(base + d, total)) if progress else None
            answers.append(self._score(job, request, step))
            done += len(request.combos)
            if progress:
                progress(done, total)
        return answers

    def _score(self, job: ScoreJob, r: ScoreRequest, progress: Progress | None) -> RequestScores:
        def run(combos: Sequence[Any], workers: int | None, step: Progress | None = None) -> Scores:
            return score_combos(job.strategy, r.market.bars, combos, job.costs, job.timeframe, job.engine, step,
                                r.window, r.every_bar, workers, r.longest_warmup())

        try:
            return RequestScores(run(r.combos, self.workers, progress))
        except Exception:  # noqa: BLE001 - find which parameter sets fail, and score the rest
            return score_one_by_one(lambda i: run(r.combos[i: i + 1], 1), len(r.combos))


def failures(requests: Sequence[ScoreRequest], answers: Sequence[RequestScores]) -> list[dict[str, Any]]:
    """Every parameter set that failed, once per symbol, with its error and the windows it failed in: what
    a run prints and records."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for request, answer in zip(requests, answers, strict=True):
        for i, error in answer.failed.items():
            params = asdict(request.combos[i])
            entry = found.setdefault((request.market.symbol, repr(sorted(params.items()))),
                                     {"symbol": request.market.symbol, "params": params, "error": error, "in": []})
            entry["in"].append(request.label)
    return list(found.values())


def failure_text(failed: Sequence[dict[str, Any]]) -> str:
    """One line per failed parameter set, for the terminal."""
    lines = [f"{len(failed)} parameter set(s) failed on every try and have no row in the results:"]
    for f in failed:
        params = ",".join(f"{k}={v}" for k, v in f["params"].items())
        lines.append(f"  {f['symbol']} {params} ({', '.join(f['in'])}): {f['error']}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ExecutorOptions:
    """The command line's choice: `--executor`, `--address` (dask only) and `--workers` (this machine's
    cores, or the workers of a local Dask cluster)."""

    name: str = "local"
    address: str | None = None
    workers: int | None = None


@contextmanager
def open_executor(options: ExecutorOptions) -> Iterator[Executor]:
    """The executor the options ask for, closed (its cluster stopped) when the block ends."""
    if options.name not in EXECUTORS:
        raise ValueError(f"unknown --executor {options.name!r}: local or dask")
    if options.name == "local":
        if options.address is not None:
            raise ValueError(f"--address {options.address} names a Dask scheduler; add --executor dask to use it")
        yield LocalExecutor(options.workers)
        return
    from research.dask_executor import DaskExecutor  # dask loads only when asked for

    with DaskExecutor.open(options.address, options.workers) as executor:
        yield executor
