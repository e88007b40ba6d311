"""Papermill orchestration: execute a template from `notebooks/` into a run folder and export HTML beside it.

Templates hold a `parameters` cell, calls into `research`, and plots; `emit` publishes a JSON summary
that tests (and scripts) read back from the executed notebook.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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


def run_notebook(name: str, folder: Path, parameters: dict[str, Any], timeout_s: int = 900,
                 on_cell: Callable[[int, int], None] | None = None) -> Path:
    """Execute `notebooks/<name>.ipynb` into `folder/<name>.ipynb` with papermill; return the HTML export.
    `on_cell(done, total)` hears of each executed cell."""
    import papermill as pm

    executed = folder / f"{name}.ipynb"
    progress = False if on_cell is None else {"file": _CellCount(on_cell), "bar_format": "{n}/{total}\n", "mininterval": 0}
    pm.execute_notebook(str(template(name)), str(executed), parameters=parameters, kernel_name="python3",
                        language="python", progress_bar=progress, cwd=str(folder), execution_timeout=timeout_s)
    return export_html(executed)


class _CellCount:
    """The file papermill's tqdm bar writes to, with the bar formatted as `done/total`: the cell count reaches
    `on_cell` instead of the terminal (where it would fight rich's progress display)."""

    def __init__(self, on_cell: Callable[[int, int], None]) -> None:
        self.on_cell = on_cell

    def write(self, text: str) -> None:
        for done, total in re.findall(r"(\d+)/(\d+)", text):
            self.on_cell(int(done), int(total))

    def flush(self) -> None:
        pass


# JupyterLab's page template without its CDN scripts (require.js, MathJax, mermaid: the templates use none of
# them), and with plotly.js inlined once in the head when an output draws a plotly figure.
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}
{%- if resources.plotly_js %}<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>
<script type="text/javascript">{{ resources.plotly_js }}</script>{% endif -%}
{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def export_html(executed: Path) -> Path:
    """A self-contained HTML page: it opens offline, years later, with every figure drawn."""
    import jinja2
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"offline.html.j2": _OFFLINE_TEMPLATE})],
                            template_file="offline.html.j2")
    resources = {"plotly_js": _plotly_js() if _draws_plotly(notebook) else ""}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    html = executed.with_suffix(".html")
    html.write_text(body)
    return html


def _draws_plotly(notebook: nbformat.NotebookNode) -> bool:
    return any(PLOTLY_MIME in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def setup_plots() -> None:
    """Figures as plotly's JSON (drawn by JupyterLab's plotly extension) plus HTML that needs plotly.js on the
    page and nothing from the network (the HTML export inlines plotly.js once): plotly's own notebook
    renderers fetch plotly.js and MathJax from CDNs, which leaves offline reports blank."""
    import plotly.io as pio

    pio.renderers["gauntlet"] = _offline_renderer_class()()
    pio.renderers.default = "gauntlet"


def _offline_renderer_class() -> type:
    from plotly.io import to_html, to_json
    from plotly.io.base_renderers import MimetypeRenderer

    class OfflineRenderer(MimetypeRenderer):
        def to_mimebundle(self, fig_dict: dict) -> dict:
            html = to_html(fig_dict, include_plotlyjs=False, include_mathjax=False, full_html=False,
                           default_width="100%", default_height=525, validate=False)
            return {PLOTLY_MIME: json.loads(to_json(fig_dict, validate=False, remove_uids=False)), "text/html": html}

    return OfflineRenderer


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
