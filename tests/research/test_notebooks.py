"""Every notebook template runs top to bottom under papermill with small parameters, on a real cache."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from typer.testing import CliRunner

from research.cli import app
from research.notebooks import TEMPLATES, run_notebook, summary_of, template

SMALL_GRID = ["fast=5:15:5", "slow=30:60:30"]
STRAY_HEADING = re.compile(r"^[ \t]{0,3}[^\s#\w][ \t]*#{1,6}[ \t]", re.M)  # `!## Title`: shown as text
HEADING_TEXT = re.compile(r"^#{1,6}[ \t]+\S", re.M)  # a markdown heading printed as plain text


def literal_markdown(notebook: nbformat.NotebookNode) -> list[str]:
    """Markdown a reader would see as literal text in JupyterLab: a heading behind a stray character in a
    markdown cell, a code cell holding only `#` lines (a heading typed into the wrong cell type), a heading
    in a plain-text or stream output (markdown printed instead of displayed as `Markdown`)."""
    found = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            found += STRAY_HEADING.findall(cell.source)
            continue
        lines = [line for line in cell.source.splitlines() if line.strip()]
        if cell.cell_type == "code" and lines and all(line.lstrip().startswith("#") for line in lines):
            found.append(cell.source)
        for output in cell.get("outputs", []):
            text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
            found += HEADING_TEXT.findall(text) + STRAY_HEADING.findall(text)
    return found


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_have_one_parameters_cell_and_no_outputs(name):
    notebook = nbformat.read(template(name), as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in notebook.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_headings_are_markdown(name):
    notebook = nbformat.read(template(name), as_version=4)
    assert literal_markdown(notebook) == []
    assert sum(c.cell_type == "markdown" and c.source.startswith("# ") for c in notebook.cells) == 1  # one title


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
    assert literal_markdown(nbformat.read(html.with_suffix(".ipynb"), as_version=4)) == []


def test_sweep_with_notebook_puts_the_executed_notebook_in_the_run_folder(env_cache):
    result = CliRunner().invoke(app, ["sweep", "sma_cross", "--exchange", "binance", "--symbol", "BTC/USDT",
                                      *sum((["--param", p] for p in SMALL_GRID), []), "--notebook"])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (env_cache / "reports").iterdir() if p.is_dir()]
    assert (folder / "sweep.ipynb").is_file() and (folder / "sweep.html").is_file()
    assert summary_of(folder / "sweep.ipynb")["rows"] == 6
    assert json.loads((folder / "run.json").read_text())["run_id"] == folder.name
    assert "sweep.html" in (env_cache / "reports" / "index.html").read_text()
