"""Heatmaps of any metric over any two parameters (plotly HTML), best value over the other parameters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go


def heatmap(results: pd.DataFrame, x: str, y: str, metric: str, title: str = "") -> go.Figure:
    for name in (x, y, metric):
        if name not in results.columns:
            raise ValueError(f"no column {name!r} in the results; columns are {', '.join(results.columns)}")
    table = results.pivot_table(index=y, columns=x, values=metric, aggfunc="max").sort_index()
    figure = go.Figure(go.Heatmap(z=table.to_numpy(), x=[str(c) for c in table.columns], y=[str(i) for i in table.index],
                                  colorscale="RdYlGn", colorbar={"title": metric},
                                  hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z:.4g}}<extra></extra>"))
    figure.update_layout(title=title or f"{metric} by {x} and {y} (best over other parameters)",
                         xaxis_title=x, yaxis_title=y, template="plotly_white")
    return figure


def write_heatmap(results: pd.DataFrame, path: Path, x: str, y: str, metric: str, title: str = "") -> Path:
    """A self-contained page (plotly.js inlined, ~5 MB): a report must open offline, not fetch from a CDN."""
    heatmap(results, x, y, metric, title).write_html(path, include_plotlyjs=True, full_html=True)
    return path


def default_axes(grid: dict[str, list]) -> tuple[str, str] | None:
    """The first two parameters the grid actually varies."""
    varied = [name for name, values in grid.items() if len(values) > 1]
    return (varied[0], varied[1]) if len(varied) >= 2 else None
