"""Papermill orchestration: execute a template from `notebooks/` into a run folder and export HTML beside it.

Templates hold a `parameters` cell, calls into `research`, and plots; `emit` publishes a JSON summary
that tests (and scripts) read back from the executed notebook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
TEMPLATES = ("explore", "sweep", "walkforward", "tearsheet")
SUMMARY_MIME = "application/json"


def template(name: str) -> Path:
    if name not in TEMPLATES:
        raise ValueError(f"unknown notebook {name!r}; the templates are {', '.join(TEMPLATES)}")
    return NOTEBOOKS_DIR / f"{name}.ipynb"


def run_notebook(name: str, folder: Path, parameters: dict[str, Any], timeout_s: int = 900) -> Path:
    """Execute `notebooks/<name>.ipynb` into `folder/<name>.ipynb` with papermill; return the HTML export."""
    import papermill as pm

    executed = folder / f"{name}.ipynb"
    pm.execute_notebook(str(template(name)), str(executed), parameters=parameters, kernel_name="python3",
                        language="python", progress_bar=False, cwd=str(folder), execution_timeout=timeout_s)
    return export_html(executed)


def export_html(executed: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    html = executed.with_suffix(".html")
    html.write_text(body)
    return html


def setup_plots() -> None:
    """Plotly output that renders in JupyterLab and survives the HTML export."""
    import plotly.io as pio

    pio.renderers.default = "notebook_connected"


def emit(summary: dict[str, Any]) -> None:
    """Publish a JSON summary as a cell output (read back by `summary_of`)."""
    from IPython.display import display

    plain = json.loads(json.dumps(summary, default=str))
    display({SUMMARY_MIME: plain, "text/plain": json.dumps(plain, indent=1)[:4000]}, raw=True)


def summary_of(executed: Path) -> dict[str, Any]:
    """The last summary `emit` published in an executed notebook."""
    found: dict[str, Any] = {}
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "display_data" and SUMMARY_MIME in output.get("data", {}):
                found = dict(output["data"][SUMMARY_MIME])
    return found
