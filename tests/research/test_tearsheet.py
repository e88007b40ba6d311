"""The QuantStats tearsheet of a replay and its metrics.json come from the same returns over the same dates:
their shared figures agree."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import quantstats as qs
from typer.testing import CliRunner

from engine.ohlcv import load
from research.cli import app
from research.tearsheet import sheet_returns


def test_tearsheet_and_metrics_json_agree(env_cache):
    result = CliRunner().invoke(app, ["replay", "sma_cross", "--params", "fast=10,slow=50", "--symbol", "BTC/USDT",
                                      "--ideal"])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (env_cache / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    metrics = json.loads((folder / "metrics.json").read_text())
    equity = pd.read_parquet(folder / "equity.parquet").set_index("timestamp")["equity"]
    close = load("binance", "BTC/USDT", "1h")["close"]
    r = sheet_returns(equity, close, 10_000.0)
    assert r.strategy.index[0] == equity.index[0].tz_convert(None) and len(r.strategy) == len(equity)  # same dates
    assert r.periods == pytest.approx(8760.0, rel=1e-12)  # no gaps: the observed bars per year are the nominal ones
    assert qs.stats.comp(r.strategy) == pytest.approx(metrics["total_return"], rel=1e-9)
    assert qs.stats.cagr(r.strategy, periods=r.periods) == pytest.approx(metrics["cagr"], rel=1e-9)
    assert qs.stats.sharpe(r.strategy, periods=r.periods) == pytest.approx(metrics["sharpe"], rel=1e-9)
    assert qs.stats.sortino(r.strategy, periods=r.periods) == pytest.approx(metrics["sortino"], rel=1e-9)
    assert qs.stats.max_drawdown(r.strategy) == pytest.approx(metrics["max_drawdown"], rel=1e-9)
    assert qs.stats.calmar(r.strategy, periods=r.periods) == pytest.approx(metrics["calmar"], rel=1e-9)
    html = (folder / "quantstats.html").read_text()
    shown = re.search(r"Max Drawdown</td><td>[^<]*</td><td>([^<]*)</td>", html).group(1)
    assert shown == f"{metrics['max_drawdown']:.2%}"  # the sheet prints the drawdown metrics.json holds
    assert "<dt> 1 Jan, 2024 -  6 Sep, 2024</dt>" in html  # the window's first and last bar, not the first trade
    assert "Periods/Year: 8760.0" in html


def test_a_long_series_is_drawn_from_daily_returns_and_says_so(tmp_path):
    """Past SHEET_MAX_BARS a per-bar QuantStats sheet takes minutes: the sheet is drawn daily, titled so."""
    import numpy as np

    from research.tearsheet import SHEET_MAX_BARS, write_tearsheet

    n = SHEET_MAX_BARS + 1440
    index = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC")
    equity = pd.Series(10_000 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 1e-4, n))), index=index)
    returns = sheet_returns(equity, equity, 10_000.0)
    days = equity.resample("1D").last()
    assert returns.basis == "daily" and len(returns.strategy) == len(days)
    assert (1 + returns.strategy).prod() == pytest.approx(equity.iloc[-1] / 10_000.0, rel=1e-12)  # same path, daily
    html = write_tearsheet(equity, equity, 10_000.0, tmp_path / "quantstats.html", "t").read_text()
    assert f"drawn from daily returns: {n:,} bars" in html
    assert sheet_returns(equity.iloc[:SHEET_MAX_BARS], equity.iloc[:SHEET_MAX_BARS], 10_000.0).basis == "bar"
