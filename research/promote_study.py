"""The study behind a promotion: a sweep's or walk-forward's record, its candidate's spec for one symbol, the
strategy as its source is now, and the run's candles loaded again from the cache, with their fingerprint as
recorded then and as read now (the gates measure these very candles, so they must be the run's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.ohlcv import SeriesKey, Store
from engine.spec import RunSpec
from engine.strategy.bars import Bars
from engine.strategy.contract import Strategy, load_strategy
from research.runs import load_record

__all__ = ["Study", "load_study"]


@dataclass(frozen=True)
class Study:
    run_id: str
    kind: str  # sweep | walkforward
    record: dict
    symbol: str
    candidate: RunSpec  # the run's spec of its candidate: the study's window and costs, ideal, no risk rules
    strategy: Strategy
    bars: Bars
    fingerprint_then: dict  # as run.json recorded it
    fingerprint_now: dict  # of the bytes read for this promotion

    @property
    def results(self) -> dict:
        """The symbol's figures: a walk-forward's summary, or a sweep's evidence for its best combination."""
        results = self.record.get("results", {})
        return results.get(self.symbol, {}) if self.kind == "walkforward" else results.get("evidence", {}).get(
            self.symbol, {})


def load_study(run_id: str, symbol: str | None, store: Store | None = None, reports_dir: Path | None = None) -> Study:
    """The run `run_id` for `symbol` (None: its only symbol), with its candles loaded again."""
    record = load_record(run_id, reports_dir)
    kind = record["kind"]
    if kind not in ("sweep", "walkforward"):
        raise ValueError(f"run {run_id} is a {kind} run; promote takes the walk-forward run that chose the "
                         "candidate (a sweep fails the out-of-sample gates)")
    candidates = record.get("candidates") or {}
    if not candidates:
        raise ValueError(f"run {run_id} recorded no candidate spec (no fold picked a combination, or the run predates "
                         "recorded specs); run the study again")
    symbol = _symbol(run_id, symbol, list(candidates))
    candidate = RunSpec.parse(candidates[symbol], f"run {run_id}, candidate for {symbol}")
    then = next((d for d in record.get("data", []) if d.get("symbol") == symbol), None)
    if then is None:
        raise ValueError(f"run {run_id} recorded no data fingerprint for {symbol}; run the study again")
    loaded = (store or Store()).load_checked(SeriesKey(then["exchange"], symbol, then["timeframe"]), then["start_ms"],
                                             then["end_ms"])
    return Study(run_id, kind, record, symbol, candidate, load_strategy(candidate.strategy.ref),
                 Bars.from_frame(loaded.frame), then, loaded.fingerprint)


def _symbol(run_id: str, wanted: str | None, symbols: list[str]) -> str:
    if wanted is None and len(symbols) == 1:
        return symbols[0]
    if wanted in symbols:
        return wanted
    choices = " or ".join(f"--symbol {s}" for s in symbols)
    if wanted is None:
        raise ValueError(f"run {run_id} has candidates for {', '.join(symbols)}; choose one with {choices}")
    raise ValueError(f"run {run_id} has no candidate for {wanted}; choose {choices}")
