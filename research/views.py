"""What the sweep and walk-forward notebooks show, read from a run folder or computed on the spot.

A notebook either opens a finished run (`run_dir`, as `--notebook` does) or runs the study in memory
from its parameters (exploration in Jupyter, nothing written); both give the same view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from research.sweep import SweepSpec


@dataclass
class SweepView:
    title: str
    results: pd.DataFrame
    evidence: dict[str, dict]
    grid: dict[str, list]
    objective: str

    @classmethod
    def from_run(cls, run_dir: str | Path) -> SweepView:
        folder = Path(run_dir)
        record = json.loads((folder / "run.json").read_text())
        config = record["config"]
        return cls(f"{record['run_id']}", pd.read_parquet(folder / "results.parquet"), record["results"]["evidence"],
                   config["grid"], config["objective"])

    @classmethod
    def from_spec(cls, spec: SweepSpec) -> SweepView:
        from research.sweep_run import run_sweep

        outcome = run_sweep(spec)
        return cls(f"{outcome.strategy.name} {', '.join(spec.symbols)} {spec.timeframe} (not saved)", outcome.results,
                   outcome.evidence, outcome.grid, spec.objective)

    @property
    def symbols(self) -> list[str]:
        return list(dict.fromkeys(self.results["symbol"]))

    def evidence_table(self) -> pd.DataFrame:
        return pd.DataFrame({symbol: {k: v for k, v in found.items() if k != "best"} | {"best": str(found["best"])}
                             for symbol, found in self.evidence.items()}).T


@dataclass
class WalkForwardView:
    title: str
    plan: pd.DataFrame
    folds: pd.DataFrame
    equity: pd.DataFrame  # timestamp, equity, symbol
    summary: dict[str, dict]
    params: list[str]

    @classmethod
    def from_run(cls, run_dir: str | Path) -> WalkForwardView:
        folder = Path(run_dir)
        record = json.loads((folder / "run.json").read_text())
        return cls(record["run_id"], pd.read_csv(folder / "plan.csv"), pd.read_parquet(folder / "folds.parquet"),
                   pd.read_parquet(folder / "oos_equity.parquet"), record["results"], list(record["config"]["grid"]))

    @classmethod
    def from_spec(cls, spec) -> WalkForwardView:
        from research.walkforward import fold_table, run_walkforward
        from research.walkforward_run import equity_frame, plan_frame

        outcome = run_walkforward(spec)
        names = list(outcome.strategy.param_types)
        return cls(f"{outcome.strategy.name} walk-forward (not saved)", plan_frame(outcome),
                   fold_table(outcome.folds, names), equity_frame(outcome), outcome.summary, names)

    def equity_figure(self) -> go.Figure:
        figure = go.Figure([go.Scatter(x=rows["timestamp"], y=rows["equity"], name=symbol)
                            for symbol, rows in self.equity.groupby("symbol", sort=False)])
        figure.update_layout(title="stitched out-of-sample equity", template="plotly_white", yaxis_title="value")
        return figure

    def picks_figure(self) -> go.Figure:
        """How the in-sample picks move from fold to fold."""
        figure = go.Figure([go.Scatter(x=rows["fold"], y=rows[name], mode="lines+markers", name=f"{symbol} {name}")
                            for symbol, rows in self.folds.groupby("symbol", sort=False) for name in self.params])
        figure.update_layout(title="picked parameters by fold", template="plotly_white", xaxis_title="fold")
        return figure
