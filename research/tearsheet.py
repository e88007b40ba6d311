"""QuantStats tearsheets: the strategy against buy-and-hold of the same symbol, from the SAME returns over the
SAME dates as `metrics.json`.

The sheet gets the per-bar returns the metric accumulators use (`engine.sim.metrics_nb`: each bar's value
against the one before, the first against the initial cash), every bar from the first to the last, and
the observed bars per year (rows / calendar years of the window), so its CAGR, Sharpe, Sortino, Calmar,
max drawdown and cumulative return are the figures of `metrics.json`. `match_dates` is off: QuantStats
would otherwise start the sheet at the strategy's first nonzero return (after the warm-up), not at the
window's first bar. Indexes are made tz-naive (QuantStats cannot compare a UTC benchmark with its own naive
index).

One figure differs by definition: QuantStats' "Time in Market" counts bars with a nonzero return (an exit
bar's move from the last close to the exit counts), `metrics.json`'s `exposure` counts bars that close
holding a position.

Beyond `SHEET_MAX_BARS` bars (70 days of 1-minute bars) QuantStats takes minutes to draw a per-bar sheet, so
the sheet is drawn from daily returns (each UTC day's last value, observed days per year) and its title says
so: its annualized ratios and drawdown are then daily figures, and `metrics.json` keeps the per-bar ones.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.calendar import DAY_MS
from engine.sim.metrics_nb import window_years


@dataclass(frozen=True, slots=True)
class SheetReturns:
    strategy: pd.Series  # per-bar returns, tz-naive index
    benchmark: pd.Series  # buy-and-hold from the first close
    periods: float  # observed bars (or days) per year
    basis: str = "bar"  # "bar": the per-bar returns of metrics.json; "daily": each UTC day's last value


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


SHEET_MAX_BARS = 100_000


def sheet_returns(equity: pd.Series, close: pd.Series, init_cash: float) -> SheetReturns:
    """What the sheet is drawn from. The bar length is the smallest spacing of the index (gaps only widen it)."""
    if len(equity) > SHEET_MAX_BARS:
        strategy, benchmark = daily_returns(equity, init_cash), daily_returns(close, float(close.iloc[0]))
        days = strategy.index.as_unit("ms").asi8
        return SheetReturns(strategy.rename("Strategy"), benchmark.rename("Buy and hold"),
                            len(days) / window_years(days, DAY_MS), "daily")
    ts_ms = equity.index.as_unit("ms").asi8
    bar_ms = int(np.diff(ts_ms).min()) if len(ts_ms) > 1 else DAY_MS
    periods = len(ts_ms) / window_years(ts_ms, bar_ms)
    return SheetReturns(_bar_returns(equity, init_cash).rename("Strategy"),
                        _bar_returns(close, float(close.iloc[0])).rename("Buy and hold"), periods)


@contextmanager
def _same_index_benchmark() -> Iterator[None]:
    """QuantStats (0.0.86) aligns the benchmark to the returns by comparing Python sets of their timestamps,
    about 15 times a sheet: seconds per 100k bars, minutes for a year of 1-minute bars. Ours already share
    one index, so for the length of a sheet an equal index skips straight to the rest of its preparation."""
    from quantstats import utils

    original = utils._prepare_benchmark

    def prepare(benchmark=None, period="max", rf=0.0, prepare_returns=True):  # noqa: ANN001, ANN202 - theirs
        if isinstance(period, pd.DatetimeIndex) and isinstance(benchmark, pd.Series) and period.equals(benchmark.index):
            period = "max"
        return original(benchmark, period, rf, prepare_returns)

    utils._prepare_benchmark = prepare
    try:
        yield
    finally:
        utils._prepare_benchmark = original


def sheet_metrics(equity: pd.Series, close: pd.Series, init_cash: float) -> pd.DataFrame:
    """QuantStats' metrics table of the sheet (the notebook shows it)."""
    import quantstats as qs

    r = sheet_returns(equity, close, init_cash)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _same_index_benchmark():
            return qs.reports.metrics(r.strategy, r.benchmark, mode="full", display=False,
                                      periods_per_year=r.periods, match_dates=False)


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
        if r.basis == "daily":
            title += f" (drawn from daily returns: {len(equity):,} bars; metrics.json holds the per-bar figures)"
        with _same_index_benchmark():
            qs.reports.html(r.strategy, r.benchmark, output=str(path), title=title, periods_per_year=r.periods,
                            download_filename=path.name, match_dates=False)
    return path
