"""QuantStats tearsheets: the strategy against buy-and-hold of the same symbol, from the SAME returns over the
SAME dates as `metrics.json`.

The sheet gets the per-bar returns the metric accumulators use (`engine.metrics_nb`: each bar's value
against the one before, the first against the initial cash), every bar from the first to the last, and
the observed bars per year (rows / calendar years of the window), so its CAGR, Sharpe, Sortino, Calmar,
max drawdown and cumulative return are the figures of `metrics.json`. `match_dates` is off: QuantStats
would otherwise start the sheet at the strategy's first nonzero return (after the warm-up), not at the
window's first bar. Indexes are made tz-naive (QuantStats cannot compare a UTC benchmark with its own naive
index).

One figure differs by definition: QuantStats' "Time in Market" counts bars with a nonzero return (an exit
bar's move from the last close to the exit counts), `metrics.json`'s `exposure` counts bars that close
holding a position.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.metrics_nb import window_years


@dataclass(frozen=True, slots=True)
class SheetReturns:
    strategy: pd.Series  # per-bar returns, tz-naive index
    benchmark: pd.Series  # buy-and-hold from the first close
    periods: float  # observed bars per year


def daily_returns(values: pd.Series, start_value: float) -> pd.Series:
    """Returns of the value at each UTC day's last bar; the first day from `start_value` (for views)."""
    daily = values.resample("1D").last().dropna()
    returns = daily.pct_change()
    returns.iloc[0] = daily.iloc[0] / start_value - 1.0
    returns.index = returns.index.tz_convert(None) if returns.index.tz is not None else returns.index
    return returns.replace([np.inf, -np.inf], np.nan).fillna(0.0)


def _bar_returns(values: pd.Series, start_value: float) -> pd.Series:
    v = values.to_numpy(dtype=np.float64)
    previous = np.r_[start_value, v[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(v == previous, 0.0, (v - previous) / np.abs(previous))  # as `acc_bar_nb`
    index = values.index.tz_convert(None) if values.index.tz is not None else values.index
    return pd.Series(returns, index=index).replace([np.inf, -np.inf], np.nan).fillna(0.0)


def sheet_returns(equity: pd.Series, close: pd.Series, init_cash: float) -> SheetReturns:
    """What the sheet is drawn from. The bar length is the smallest spacing of the index (gaps only widen it)."""
    ts_ms = equity.index.as_unit("ms").asi8
    bar_ms = int(np.diff(ts_ms).min()) if len(ts_ms) > 1 else 86_400_000
    periods = len(ts_ms) / window_years(ts_ms, bar_ms)
    return SheetReturns(_bar_returns(equity, init_cash).rename("Strategy"),
                        _bar_returns(close, float(close.iloc[0])).rename("Buy and hold"), periods)


def sheet_metrics(equity: pd.Series, close: pd.Series, init_cash: float) -> pd.DataFrame:
    """QuantStats' metrics table of the sheet (the notebook shows it)."""
    import quantstats as qs

    r = sheet_returns(equity, close, init_cash)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return qs.reports.metrics(r.strategy, r.benchmark, mode="full", display=False, periods_per_year=r.periods,
                                  match_dates=False)


def write_tearsheet(equity: pd.Series, close: pd.Series, init_cash: float, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import quantstats as qs

    r = sheet_returns(equity, close, init_cash)
    with warnings.catch_warnings():  # quantstats/seaborn on matplotlib 3.11: tick-label and deprecation noise
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        qs.reports.html(r.strategy, r.benchmark, output=str(path), title=title, periods_per_year=r.periods,
                        download_filename=path.name, match_dates=False)
    return path
