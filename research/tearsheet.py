"""QuantStats tearsheets: the strategy against buy-and-hold of the same symbol, on a crypto calendar.

Minute or hourly equity is resampled to daily returns first (QuantStats' daily rows would otherwise be per
bar, and a minute year takes minutes to render); indexes are made tz-naive (QuantStats cannot compare a
UTC benchmark with its own naive index); 365 periods per year.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def daily_returns(values: pd.Series, start_value: float) -> pd.Series:
    """Returns of the value at each UTC day's last bar; the first day from `start_value`."""
    daily = values.resample("1D").last().dropna()
    returns = daily.pct_change()
    returns.iloc[0] = daily.iloc[0] / start_value - 1.0
    returns.index = returns.index.tz_convert(None) if returns.index.tz is not None else returns.index
    return returns.replace([np.inf, -np.inf], np.nan).fillna(0.0)


def write_tearsheet(equity: pd.Series, close: pd.Series, init_cash: float, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import quantstats as qs

    strategy = daily_returns(equity, init_cash).rename("Strategy")
    benchmark = daily_returns(close, float(close.iloc[0])).rename("Buy and hold")
    with warnings.catch_warnings():  # quantstats/seaborn on matplotlib 3.11: tick-label and deprecation noise
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        qs.reports.html(strategy, benchmark, output=str(path), title=title, periods_per_year=365,
                        download_filename=path.name)
    return path
