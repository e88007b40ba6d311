"""`gauntlet runs list | show | compare`: the run records under reports/, read back as tables.

Every reader goes through `research.runs.read_record`, so a damaged `run.json` is a row that says so
(list) or one error naming the file (show, compare), never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from engine.spec import RunSpec, dotted_fields
from engine.settings import settings
from research.console import console
from research.runs import RUN_ID, DamagedRecord, load_record, read_record, run_folder

_FIGURES = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "round_trips", "trades", "win_rate",
            "exposure", "fees_paid", "final_equity", "dsr", "pbo", "wfe_return")
_PERCENT = {"total_return", "cagr", "max_drawdown", "win_rate", "exposure"}


@dataclass(frozen=True)
class RunRow:
    run_id: str
    record: dict | None  # None: damaged
    problem: str = ""

    @property
    def kind(self) -> str:
        return self.record["kind"] if self.record else "damaged"

    @property
    def strategy(self) -> str:
        return str(self.record["config"].get("strategy", "")) if self.record else ""

    @property
    def symbols(self) -> list[str]:
        return [d.get("symbol", "") for d in self.record.get("data", [])] if self.record else []


def scan(reports_dir: Path | None = None) -> list[RunRow]:
    """Every run folder, newest first (ids start with the UTC time)."""
    root = Path(reports_dir) if reports_dir is not None else settings().reports_dir
    folders = [p for p in root.iterdir() if p.is_dir() and RUN_ID.fullmatch(p.name)] if root.is_dir() else []
    rows = []
    for folder in sorted(folders, key=lambda p: p.name, reverse=True):
        try:
            rows.append(RunRow(folder.name, read_record(folder / "run.json")))
        except DamagedRecord as exc:
            rows.append(RunRow(folder.name, None, str(exc)))
        except FileNotFoundError:
            continue  # a folder without run.json is not a run
    return rows


def list_command(strategy: str | None, symbol: str | None, kind: str | None) -> None:
    from research.report_index import write_index

    rows = [r for r in scan() if (strategy is None or r.strategy == strategy)
            and (symbol is None or symbol in r.symbols) and (kind is None or r.kind == kind)]
    table = Table("run", "kind", "strategy", "data", "window", "result", title=f"{len(rows)} run(s), newest first",
                  title_justify="left")
    for r in rows:
        if r.record is None:
            table.add_row(r.run_id, "[red]damaged[/]", "", "", "", r.problem)
            continue
        table.add_row(r.run_id, r.kind, r.strategy, ", ".join(r.symbols), _window(r.record),
                      str(r.record.get("headline", "")))
    console.print(table)
    if settings().reports_dir.is_dir():
        write_index(settings().reports_dir)  # drops runs whose folder is gone


def _window(record: dict) -> str:
    config = record["config"]
    start, end = config.get("start"), config.get("end")
    return f"{start or 'first'} -> {end or 'last'}"


def specs(record: dict) -> dict[str, RunSpec]:
    """The spec a replay of this run takes: a replay's own, or each candidate's (by symbol)."""
    if record.get("spec"):
        return {record["spec"]["market"]["symbol"]: RunSpec.model_validate(record["spec"])}
    return {symbol: RunSpec.model_validate(spec) for symbol, spec in record.get("candidates", {}).items()}


def figures(record: dict) -> dict[str, Any]:
    """The headline numbers of a run, by kind: a replay's metrics, a sweep's candidate row, a walk-forward's
    stitched out-of-sample metrics (first symbol) with their evidence."""
    results = record.get("results", {})
    if record["kind"] == "replay":
        return dict(results.get("metrics", {}))
    if record["kind"] == "sweep":
        top = results.get("top", [])
        evidence = next(iter(results.get("evidence", {}).values()), {})
        return {**(top[0] if top else {}), "dsr": evidence.get("dsr"), "pbo": evidence.get("pbo")}
    summary = next(iter(results.values()), {}) if results else {}
    return {**summary.get("stitched_oos", {}), "dsr": summary.get("evidence", {}).get("dsr"),
            "pbo": summary.get("evidence", {}).get("pbo"),
            "wfe_return": summary.get("efficiency", {}).get("wfe_return")}


def show_command(run_id: str) -> None:
    record, folder = load_record(run_id), run_folder(run_id)
    console.print(f"[bold]{run_id}[/]  {record['kind']}  created {record.get('created_at', '?')}  "
                  f"commit {record.get('git_commit') or '?'}", highlight=False)
    console.print(f"command: {' '.join(record.get('command', []))}", highlight=False)
    console.print(str(record.get("headline", "")), highlight=False)
    for symbol, spec in specs(record).items():
        console.rule(f"spec ({symbol})" if record["kind"] != "replay" else "spec")
        console.print(spec.to_toml(), highlight=False, markup=False)
    table = Table("figure", "value", title="figures", title_justify="left")
    for name, value in _ordered(figures(record)):
        table.add_row(name, _cell(name, value))
    console.print(table)
    files = Table("file", "bytes", title="files", title_justify="left")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        files.add_row(str(path.relative_to(folder)), f"{path.stat().st_size:,}")
    console.print(files)


def compare_command(run_ids: list[str]) -> None:
    """Side by side: one column per run, the spec's fields then the figures; rows that differ in bold."""
    if len(run_ids) < 2:
        raise ValueError("compare needs at least two run ids")
    records = [load_record(run_id) for run_id in run_ids]
    columns = [{"kind": r["kind"], **_flat_spec(r), **dict(_ordered(figures(r)))} for r in records]
    names = list(dict.fromkeys(name for column in columns for name in column))
    table = Table("", *run_ids, title="runs side by side (rows that differ in bold)", title_justify="left")
    for name in names:
        values = [column.get(name) for column in columns]
        style = "bold" if len({repr(v) for v in values}) > 1 else None
        table.add_row(name, *(_cell(name, v) for v in values), style=style)
    console.print(table)


def _flat_spec(record: dict) -> dict[str, Any]:
    found = specs(record)
    if not found:
        return {}
    flat = dotted_fields(next(iter(found.values())).model_dump(exclude={"strategy": {"path", "ref"}}))
    return {k: v for k, v in flat.items() if not k.startswith("risk.") or flat.get("risk.enabled")}



def _ordered(found: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(name, found[name]) for name in _FIGURES if name in found and found[name] is not None]


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2%}" if name in _PERCENT else f"{value:.4g}"
    return str(value)
