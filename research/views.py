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

from engine.spec import RunSpec
from research.runs import read_record
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
        record = read_record(folder / "run.json")
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
        record = read_record(folder / "run.json")
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


@dataclass
class ReplayView:
    """What the tearsheet notebook shows of a replay: QuantStats' metrics against buy-and-hold, equity,
    drawdown and monthly returns (daily returns, 365-day years, as in `tearsheet.html`)."""

    title: str
    equity: pd.Series  # value at each bar's close, UTC index
    close: pd.Series
    init_cash: float
    metrics: dict

    @classmethod
    def from_run(cls, run_dir: str | Path) -> ReplayView:
        from engine.ohlcv import load

        folder = Path(run_dir)
        record = read_record(folder / "run.json")
        frame = pd.read_parquet(folder / "equity.parquet").set_index("timestamp")
        exchange, symbol, timeframe = record["config"]["series"].split(" ")
        close = load(exchange, symbol, timeframe, frame.index[0], frame.index[-1] + pd.Timedelta(1, "ms"))["close"]
        return cls(record["headline"], frame["equity"], close, record["config"]["costs"]["init_cash"],
                   json.loads((folder / "metrics.json").read_text()))

    @classmethod
    def from_spec(cls, spec: RunSpec) -> ReplayView:
        from research.replay_run import books, run_replay

        outcome = run_replay(spec)
        frame = books(outcome.result)["equity"].set_index("timestamp")
        close = pd.Series(outcome.result.bars.close, index=frame.index)
        return cls(f"{outcome.key} {outcome.params} (not saved)", frame["equity"], close, spec.costs.init_cash,
                   outcome.metrics)

    def returns(self) -> tuple[pd.Series, pd.Series]:
        from research.tearsheet import daily_returns

        return (daily_returns(self.equity, self.init_cash).rename("Strategy"),
                daily_returns(self.close, float(self.close.iloc[0])).rename("Buy and hold"))

    def metrics_table(self) -> pd.DataFrame:
        import warnings

        import quantstats as qs

        strategy, benchmark = self.returns()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return qs.reports.metrics(strategy, benchmark, mode="full", display=False, periods_per_year=365)

    def equity_figure(self) -> go.Figure:
        hold = self.close / float(self.close.iloc[0]) * self.init_cash
        figure = go.Figure([go.Scatter(x=self.equity.index, y=self.equity, name="strategy"),
                            go.Scatter(x=hold.index, y=hold, name="buy and hold")])
        figure.update_layout(title=self.title, template="plotly_white", yaxis_title="value")
        return figure

    def drawdown_figure(self) -> go.Figure:
        drawdown = self.equity / self.equity.cummax().clip(lower=self.init_cash) - 1
        figure = go.Figure(go.Scatter(x=drawdown.index, y=drawdown, fill="tozeroy", name="drawdown"))
        figure.update_layout(title="drawdown from peak", template="plotly_white", yaxis_tickformat=".0%")
        return figure

    def monthly_returns(self) -> pd.DataFrame:
        monthly = self.equity.resample("1ME").last()
        returns = monthly.pct_change()
        returns.iloc[0] = monthly.iloc[0] / self.init_cash - 1
        table = pd.DataFrame({"year": returns.index.year, "month": returns.index.month, "return": returns.to_numpy()})
        return table.pivot(index="year", columns="month", values="return")
