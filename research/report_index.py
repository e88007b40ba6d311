"""`reports/index.html`: every run, newest first, with links to what it produced. Rebuilt from the run
folders each time (a run finishes, `gauntlet runs list`), so a deleted run drops out and a damaged
`run.json` shows as damaged instead of breaking the page."""

from __future__ import annotations

import html
import os
import threading
from pathlib import Path

_LINKED = (".html", ".csv", ".ipynb", ".parquet", ".json")
_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}code{font-size:90%}")


def _row(folder: Path) -> str:
    from research.runs import DamagedRecord, read_record

    try:
        record = read_record(folder / "run.json")
    except DamagedRecord as exc:
        return (f"<tr><td><code>{html.escape(folder.name)}</code></td><td colspan='6'>damaged: "
                f"{html.escape(str(exc))}</td></tr>")
    config = record.get("config", {})
    data = ", ".join(d.get("series", "") for d in record.get("data", []))
    headline = record.get("headline", "")
    files = " ".join(f'<a href="{html.escape(folder.name)}/{html.escape(p.name)}">{html.escape(p.name)}</a>'
                     for p in sorted(folder.iterdir()) if p.suffix in _LINKED)
    return (f"<tr><td><code>{html.escape(folder.name)}</code></td><td>{html.escape(record.get('kind', ''))}</td>"
            f"<td>{html.escape(str(config.get('strategy', '')))}</td><td>{html.escape(data)}</td>"
            f"<td>{html.escape(_gaps(record))}</td><td>{html.escape(str(headline))}</td><td>{files}</td></tr>")


def _gaps(record: dict) -> str:
    """The gaps a run recorded for its window(s) (`research.gaps` records, wherever the run kind keeps them)."""
    found: list[dict] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if {"gaps", "missing_bars", "longest_gap"} <= value.keys():
                found.append(value)
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(record)
    if not found:
        return "not recorded"
    gaps, missing = sum(r["gaps"] for r in found), sum(r["missing_bars"] for r in found)
    if not gaps:
        return "none"
    longest = max((r for r in found if r["gaps"]), key=lambda r: r.get("longest_gap_bars") or 0)
    return f"{gaps} ({missing:,} missing bars, the longest {longest['longest_gap']})"


def write_index(reports_dir: Path) -> Path:
    runs = sorted((p for p in reports_dir.iterdir() if (p / "run.json").is_file() and not p.name.startswith(".")),
                  key=lambda p: p.name, reverse=True)  # ids start with the UTC time
    rows = "\n".join(_row(folder) for folder in runs)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>gauntlet runs</title><style>{_STYLE}</style>"
            f"</head><body><h1>gauntlet runs</h1><p>{len(runs)} run(s), newest first.</p><table><tr><th>run</th>"
            f"<th>kind</th><th>strategy</th><th>data</th><th>gaps</th><th>result</th><th>files</th></tr>{rows}</table></body></html>")
    path = reports_dir / "index.html"
    tmp = path.with_suffix(f".html.{os.getpid()}-{threading.get_ident()}.tmp")  # two writers never share one
    tmp.write_text(page)
    tmp.replace(path)
    return path
