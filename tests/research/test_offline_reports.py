"""Reports open offline: no HTML a run writes fetches a script from the network, and every page that draws
a plotly figure carries plotly.js itself."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from research.cli import app

REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", re.IGNORECASE)
PLOTLY_BUNDLE = re.compile(r"\* plotly\.js v\d+\.\d+\.\d+")  # the banner at the top of the inlined bundle
GRID = ["--param", "fast=5:15:5", "--param", "slow=30:60:30"]
MARKET = ["--exchange", "binance", "--symbol", "BTC/USDT"]


def _run(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


def _pages(reports: Path) -> dict[str, str]:
    return {str(p.relative_to(reports)): p.read_text() for p in sorted(reports.rglob("*.html"))}


def test_no_report_page_fetches_a_script_and_plotly_pages_carry_the_bundle(env_cache):
    _run("sweep", "sma_cross", *MARKET, *GRID, "--notebook")
    _run("walkforward", "sma_cross", *MARKET, *GRID, "--folds", "3", "--is-size", "60D", "--oos-size", "30D",
         "--notebook")
    _run("replay", "sma_cross", "--params", "fast=10,slow=30", *MARKET, "--notebook")
    pages = _pages(env_cache / "reports")
    kinds = {Path(name).name.split("_")[0] for name in pages}
    assert {"heatmap", "sweep.html", "walkforward.html", "tearsheet.html", "index.html"} <= kinds, sorted(pages)
    assert {name: REMOTE_SCRIPT.findall(text) for name, text in pages.items() if REMOTE_SCRIPT.search(text)} == {}
    drawing = {name: text for name, text in pages.items() if "Plotly.newPlot" in text}
    assert {Path(n).name.split("_")[0] for n in drawing} >= {"heatmap", "sweep.html", "walkforward.html"}
    assert [n for n, text in drawing.items() if len(PLOTLY_BUNDLE.findall(text)) != 1] == []  # once per page
