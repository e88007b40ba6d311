"""What `notebooks/explore.ipynb` shows of a cached symbol: candles, returns, volatility and gaps.

Kept here, not in the notebook, so the same tables and figures serve the notebook, tests and scripts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.core.calendar import DAY_MS, YEAR_MS
from engine.sim.metrics_nb import window_years
from engine.ohlcv import quality
from engine.ohlcv.timeframe import timeframe_ms


def candle_figure(frame: pd.DataFrame, title: str, max_bars: int = 5_000) -> go.Figure:
    """Candles and volume; long series are resampled for display only (the data is untouched)."""
    shown = frame if len(frame) <= max_bars else frame.iloc[-max_bars:]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=(0.75, 0.25), vertical_spacing=0.03)
    figure.add_trace(go.Candlestick(x=shown.index, open=shown["open"], high=shown["high"], low=shown["low"],
                                    close=shown["close"], name="price"), row=1, col=1)
    figure.add_trace(go.Bar(x=shown.index, y=shown["volume"], name="volume"), row=2, col=1)
    suffix = f" (last {max_bars:,} of {len(frame):,} bars)" if len(frame) > max_bars else ""
    figure.update_layout(title=title + suffix, xaxis_rangeslider_visible=False, template="plotly_white", showlegend=False)
    return figure


def returns_summary(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Log returns per bar: count, mean, std, skew, kurtosis, extremes, and annualized volatility (by the
    observed bars per 365-day year, rows / calendar years, as every annualized figure; see research/stats.py)."""
    r = np.log(frame["close"]).diff().dropna()
    per_year = len(frame) / window_years(frame.index.as_unit("ms").asi8, timeframe_ms(timeframe))
    return pd.DataFrame({"value": {
        "bars": len(frame), "mean": r.mean(), "std": r.std(), "skew": r.skew(), "excess_kurtosis": r.kurt(),
        "min": r.min(), "max": r.max(), "annual_volatility": r.std() * np.sqrt(per_year)}})


def volatility_figure(frame: pd.DataFrame, timeframe: str, window_days: int = 30) -> go.Figure:
    """Rolling annualized volatility of log returns over `window_days`."""
    bars = max(2, int(window_days * DAY_MS / timeframe_ms(timeframe)))
    per_year = YEAR_MS / timeframe_ms(timeframe)
    vol = np.log(frame["close"]).diff().rolling(bars).std() * np.sqrt(per_year)
    figure = go.Figure(go.Scatter(x=vol.index, y=vol, name="volatility"))
    figure.update_layout(title=f"rolling {window_days}-day annualized volatility", template="plotly_white",
                         yaxis_tickformat=".0%")
    return figure


def issue_table(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Every gap (as a range of missing open times) and every other finding of `quality.check`."""
    report = quality.check(frame, timeframe)
    rows = [{"kind": i.kind, "severity": i.severity, "count": i.count, "from": quality.fmt_ts(i.start_ms),
             "to": quality.fmt_ts(i.end_ms), "detail": i.detail} for i in report.issues]
    return pd.DataFrame(rows, columns=["kind", "severity", "count", "from", "to", "detail"])
