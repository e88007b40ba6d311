"""Every notebook template runs top to bottom under papermill with small parameters, on a real cache."""

from __future__ import annotations

import json

import nbformat
import pytest
from typer.testing import CliRunner

from research.cli import app
from research.notebooks import TEMPLATES, run_notebook, summary_of, template

SMALL_GRID = ["fast=5:15:5", "slow=30:60:30"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_have_one_parameters_cell_and_no_outputs(name):
    notebook = nbformat.read(template(name), as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in notebook.cells if c.cell_type == "code")


@pytest.mark.parametrize("name, parameters, check", [
    ("explore", {"exchange": "binance", "start": "2024-02-01", "end": "2024-03-01"},
     lambda s: s["bars"] == 29 * 24 and s["series"] == "binance BTC/USDT 1h"),
    ("sweep", {"exchange": "binance", "params": SMALL_GRID},
     lambda s: s["rows"] == 6 and 0 <= s["evidence"]["BTC/USDT"]["pbo"] <= 1),
    ("walkforward", {"exchange": "binance", "params": SMALL_GRID, "folds": 3, "is_size": "60D", "oos_size": "30D"},
     lambda s: s["folds"] == 3 and s["summary"]["BTC/USDT"]["recommendation"] is not None),
    ("tearsheet", {"exchange": "binance", "params": "fast=10,slow=30"},
     lambda s: s["days"] > 200 and s["metrics"]["round_trips"] > 10),
])
def test_every_notebook_runs_under_papermill(env_cache, name, parameters, check):
    html = run_notebook(name, env_cache, parameters)
    assert html.is_file() and html.stat().st_size > 10_000
    assert check(summary_of(html.with_suffix(".ipynb")))


def test_sweep_with_notebook_puts_the_executed_notebook_in_the_run_folder(env_cache):
    result = CliRunner().invoke(app, ["sweep", "sma_cross", "--exchange", "binance", "--symbol", "BTC/USDT",
                                      *sum((["--param", p] for p in SMALL_GRID), []), "--notebook"])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (env_cache / "reports").iterdir() if p.is_dir()]
    assert (folder / "sweep.ipynb").is_file() and (folder / "sweep.html").is_file()
    assert summary_of(folder / "sweep.ipynb")["rows"] == 6
    assert json.loads((folder / "run.json").read_text())["run_id"] == folder.name
    assert "sweep.html" in (env_cache / "reports" / "index.html").read_text()
