"""A scheduled run against the job's previous run: did the candidate change, did the out-of-sample Sharpe
move by more than the job's threshold, did the verdict change? Written into the run folder as
`comparison.json` and `comparison.html`, and as a section at the top of the run's `walkforward.html`."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["compare", "write_comparison"]

_STYLE = (".cmp{font-family:system-ui,sans-serif;margin:1em 2em}.cmp table{border-collapse:collapse}"  # scoped:
          ".cmp td,.cmp th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}"  # the notebook's page
          ".cmp .changed{font-weight:bold;color:#b00}")  # keeps its own table style


def compare(job: str, threshold: float, current: dict, previous: dict | None, note: str = "") -> dict:
    """Per symbol of the current run, its candidate, stitched out-of-sample Sharpe and verdict beside the
    previous run's; `changes` says in words what changed. `note` says why there is no previous run."""
    before = (previous or {}).get("results", {})
    symbols = {s: _symbol(summary, before.get(s), threshold) for s, summary in current.get("results", {}).items()}
    settings = _settings_changed(current, previous)
    changes = [f"the job's settings changed since the previous run: {', '.join(settings)}"] if settings else []
    changes += [f"{s}: {text}" for s, row in symbols.items() for text in row.pop("_changes")]
    if previous is not None:
        changes += [f"{s}: no longer in the job" for s in before if s not in symbols]
    return {"job": job, "run_id": current.get("run_id"), "previous_run_id": (previous or {}).get("run_id"),
            "note": note if previous is None else "", "sharpe_threshold": threshold, "symbols": symbols,
            "settings_changed": settings, "changed": bool(changes), "changes": changes}


def _settings_changed(current: dict, previous: dict | None) -> list[str]:
    """The run settings (`run.json`'s config: grid, window, costs, plan ...) that differ: a candidate that
    moved because the grid did is not news about the market."""
    if previous is None:
        return []
    now, then = current.get("config", {}), previous.get("config", {})
    return sorted(key for key in now.keys() | then.keys() if now.get(key) != then.get(key))


def _symbol(now: dict, then: dict | None, threshold: float) -> dict:
    cand, sharpe, verdict = now.get("candidate"), _sharpe(now), _promote(now)
    if then is None:
        return {"candidate": {"previous": None, "current": cand, "changed": False},
                "oos_sharpe": {"previous": None, "current": sharpe, "effect": None, "moved": False},
                "verdict": {"previous": None, "current": verdict, "changed": False,
                            "current_text": now.get("verdict", {}).get("text", "")}, "_changes": []}
    old_cand, old_sharpe, old_verdict = then.get("candidate"), _sharpe(then), _promote(then)
    effect = sharpe - old_sharpe if sharpe is not None and old_sharpe is not None else None
    moved = effect is not None and abs(effect) > threshold
    row = {"candidate": {"previous": old_cand, "current": cand, "changed": cand != old_cand},
           "oos_sharpe": {"previous": old_sharpe, "current": sharpe, "effect": effect, "moved": moved},
           "verdict": {"previous": old_verdict, "current": verdict, "changed": verdict != old_verdict,
                       "previous_text": then.get("verdict", {}).get("text", ""),
                       "current_text": now.get("verdict", {}).get("text", "")}}
    changes = []
    if row["candidate"]["changed"]:
        changes.append(f"candidate {_params(old_cand)} -> {_params(cand)}")
    if moved:
        changes.append(f"out-of-sample Sharpe {old_sharpe:.3f} -> {sharpe:.3f} ({effect:+.3f}, more than {threshold})")
    if row["verdict"]["changed"]:
        changes.append(f"verdict {_word(old_verdict)} -> {_word(verdict)}")
    return {**row, "_changes": changes}


def _sharpe(summary: dict) -> float | None:
    value = summary.get("stitched_oos", {}).get("sharpe")
    return float(value) if value is not None and math.isfinite(value) else None


def _promote(summary: dict) -> bool | None:
    return summary.get("verdict", {}).get("promote")


def _params(candidate: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in candidate.items()) if candidate else "none"


def _word(promote: bool | None) -> str:
    return {True: "promote", False: "do not promote"}.get(promote, "none")


def write_comparison(folder: Path, comparison: dict) -> None:
    """`comparison.json`, `comparison.html`, and the same section at the top of `walkforward.html` if the
    run has one."""
    (folder / "comparison.json").write_text(json.dumps(comparison, indent=1, sort_keys=True))
    section = comparison_section(comparison)
    (folder / "comparison.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(comparison['job'])}: comparison"
        f"</title><style>{_STYLE}</style></head><body>{section}</body></html>")
    page = folder / "walkforward.html"
    if page.is_file():
        text = page.read_text()
        body = text.find("<body")
        at = text.find(">", body) + 1 if body >= 0 else 0
        page.write_text(text[:at] + f"<style>{_STYLE}</style>{section}" + text[at:])


def comparison_section(c: dict) -> str:
    esc = html.escape
    if c["previous_run_id"] is None:
        intro = f"No previous run to compare with{': ' + c['note'] if c['note'] else ''}."
    else:
        intro = f"Compared with the previous run <code>{esc(c['previous_run_id'])}</code>."
    changes = "".join(f"<li>{esc(text)}</li>" for text in c["changes"]) or "<li>nothing changed</li>"
    rows = "".join(_row(symbol, row) for symbol, row in c["symbols"].items())
    return (f"<section class='cmp'><h2>Scheduled job {esc(c['job'])}: what changed</h2><p>{intro}</p><ul>{changes}"
            f"</ul>{_deployment(c.get('deployment'))}<table><tr><th>symbol</th><th>candidate</th>"
            f"<th>out-of-sample Sharpe</th><th>verdict</th></tr>{rows}</table><p>Sharpe threshold: "
            f"{c['sharpe_threshold']}.</p></section>")


def _deployment(d: dict | None) -> str:
    """A deployment's job: what it re-validated, on what basis, and its drift."""
    if not d:
        return ""
    esc, drift = html.escape, d.get("drift", {})
    if drift.get("measured"):
        state = "out of bounds" if drift["breaches"] else "within bounds"
        moved = (f"{drift['drift_rate']:.2%} of the initial cash (bound {drift['max_drift_rate']:.2%}), "
                 f"{drift['unexplained']} unexplained difference(s) over {drift['candles']} candles: {state}")
    else:
        moved = f"not measured: {drift.get('note', '')}"
    return (f"<p>Re-validates deployment <code>{esc(d['name'])} v{d['version']}</code> (<code>{esc(d['file'])}"
            f"</code>), which trades {esc(_params(d['params']))}, by {esc(d['basis'])}. Drift: {esc(moved)}.</p>")


def _row(symbol: str, row: dict) -> str:
    def cell(part: dict, show: Any) -> str:
        text = html.escape(f"{show(part['previous'])} -> {show(part['current'])}")
        return f"<td class='changed'>{text}</td>" if part.get("changed") or part.get("moved") else f"<td>{text}</td>"

    return (f"<tr><td>{html.escape(symbol)}</td>{cell(row['candidate'], _params)}"
            f"{cell(row['oos_sharpe'], lambda v: 'n/a' if v is None else f'{v:.3f}')}"
            f"{cell(row['verdict'], _word)}</tr>")
