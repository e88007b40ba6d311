"""A walk-forward as a run: the plan, the per-fold table, the stitched out-of-sample equity, stability, the
candidate and its verdict against the promotion gates, written to `reports/<run-id>/`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from research.candidates import walkforward_candidates
from research.runs import RunFolder, base_record
from research.splits import plan_table
from research.walkforward import WalkForwardOutcome, fold_table


def plan_frame(outcome: WalkForwardOutcome) -> pd.DataFrame:
    by_symbol = {}
    for r in outcome.folds:
        by_symbol.setdefault(r.symbol, []).append(r.fold)
    return pd.concat([plan_table(folds).assign(symbol=symbol) for symbol, folds in by_symbol.items()], ignore_index=True)


def equity_frame(outcome: WalkForwardOutcome) -> pd.DataFrame:
    return pd.concat([equity.rename("equity").rename_axis("timestamp").reset_index().assign(symbol=symbol)
                      for symbol, equity in outcome.stitched.items()], ignore_index=True)


def write_walkforward(outcome: WalkForwardOutcome, command: list[str], reports_dir: Path | None = None,
                      extra: Callable[[Path], None] | None = None) -> Path:
    """Everything into a staging folder (and `extra(folder)`, e.g. a notebook), then published at once."""
    spec = outcome.spec
    config = {"strategy": outcome.strategy.name, **asdict(spec.sweep), "splits": asdict(spec.splits),
              "min_trades": spec.min_trades, "grid": outcome.grid}
    data = [m.fingerprint for m in outcome.markets]
    identity = {**config, "kind": "walkforward", "data": data}
    with RunFolder.new(outcome.strategy.name, identity, reports_dir) as folder:
        run_id = folder.run_id
        plan_frame(outcome).to_csv(folder.path("plan.csv"), index=False)
        table = fold_table(outcome.folds, list(outcome.strategy.param_types))
        table.to_csv(folder.path("folds.csv"), index=False)
        table.to_parquet(folder.path("folds.parquet"), index=False)
        equity_frame(outcome).to_parquet(folder.path("oos_equity.parquet"), index=False)
        pd.DataFrame([{"symbol": s, **row} for s, summary in outcome.summary.items() for row in summary["stability"]]
                     ).to_csv(folder.path("stability.csv"), index=False)
        record = base_record("walkforward", run_id, command, config, data)
        record.update(executor=outcome.executor, failed=outcome.failed)
        record["results"] = outcome.summary
        record.update(walkforward_candidates(outcome))  # strategy source, candidate specs, out-of-sample windows
        record["headline"] = headline(outcome)
        return folder.complete(record, extra)


def headline(outcome: WalkForwardOutcome) -> str:
    """Per symbol, the verdict against the promotion gates (`research.gates`): it says "promote" only when
    every gate passes."""
    return "; ".join(f"{symbol} {summary['verdict']['text']}" for symbol, summary in outcome.summary.items())
