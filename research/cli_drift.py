"""`gauntlet drift NAME`: the live window replayed and matched trade by trade (`engine.live.drift`), as a typer
command; `research/cli.py` registers it. Exit 0 within bounds, 1 when a difference is unexplained or the
explained ones' effect exceeds the bound, 2 on a mistake (unknown deployment, no journal, candles missing from
the cache), in one line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

MISTAKE = 2  # a usage error, as opposed to drift found (1)


@dataclass(frozen=True)
class DriftArgs:
    name: str
    as_json: bool = False
    data: Path | None = None
    deployments: Path | None = None
    max_drift_rate: float | None = None


def drift(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the deployment (deployments/NAME.toml)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    data: Annotated[Optional[Path], typer.Option(help="the data folder holding the cache and journal/ (default: "
                                                      "GAUNTLET_DATA_DIR, else data/)")] = None,
    deployments: Annotated[Optional[Path], typer.Option(help="the deployments folder (default: "
                                                             "GAUNTLET_DEPLOYMENTS_DIR, else deployments/)")] = None,
    max_drift_rate: Annotated[Optional[float], typer.Option(
        min=0.0, help="bound on the explained differences' effect as a fraction of the initial cash (default: the "
                      "deployment's max_drift_rate gate)")] = None,
) -> None:
    """Replay the candles the deployment's runner handled, from the cache, and match its orders one by one with
    replay's: identical, or each difference explained (fill price, partial fill, rejection, late candle,
    restart) with its effect in quote currency. Exit 1 when one is unexplained or the explained ones exceed the
    bound; 2 on a mistake."""
    from research.cli import _guarded

    args = DriftArgs(name, as_json, data, deployments, max_drift_rate)
    raise typer.Exit(_guarded(lambda: drift_command(args), ctx, code=MISTAKE))


def drift_command(args: DriftArgs) -> int:
    from engine.live.drift import measure_drift
    from engine.live.history import journal_path
    from engine.live.journal import Journal
    from engine.ohlcv.store import Store
    from engine.settings import settings

    data = args.data if args.data is not None else settings().data_dir
    root = args.deployments if args.deployments is not None else settings().deployments_dir
    deployment = _deployment(args.name, root)
    path = journal_path(args.name, data)
    if not path.is_file():
        raise LookupError(f"deployment {args.name} has no journal at {path}: it has never run (`gauntlet run "
                          f"{args.name}`)")
    record = {"label": deployment.label(), "exchange": deployment.spec.market.exchange,
              "spec": deployment.spec.model_dump(mode="json", exclude_none=True)}
    with Journal.open(path) as journal:
        report = measure_drift(journal, args.name, Store(data), record)
    if report is None:
        raise LookupError(f"deployment {args.name} has handled no candle yet: nothing to replay")
    bound = args.max_drift_rate if args.max_drift_rate is not None else deployment.thresholds.max_drift_rate
    breaches = report.breaches(bound)
    if args.as_json:
        typer.echo(json.dumps({**report.as_dict(), "max_drift_rate": bound, "breaches": breaches}, indent=1))
    else:
        show_report(report, bound, breaches)
    return 1 if breaches else 0


def _deployment(name: str, root: Path) -> Any:
    """The newest version of deployment `name` (its gates' thresholds give the bound)."""
    from engine.live.deployment import deployment_versions, read_deployment

    versions = deployment_versions(root)
    if name not in versions:
        known = ", ".join(versions) or "none"
        raise LookupError(f"no deployment {name!r} in {root} (known: {known})")
    return read_deployment(versions[name][-1][1])


def _utc(ts_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def show_report(report: Any, bound: float, breaches: list[str]) -> None:  # engine.live.drift.DriftReport
    """The differences as a table, then the summary, the equity and the verdict."""
    from rich import box
    from rich.table import Table

    from engine.live.drift_match import KINDS
    from research.console import console

    console.print(f"[bold]{report.deployment}[/]: {report.candles} candles {_utc(report.first_ms)} -> "
                  f"{_utc(report.last_ms)} UTC replayed bar by bar from the cache; {report.fills} fills in the "
                  f"journal, {report.replay_fills} in replay; restarts {report.restarts}", highlight=False)
    if report.differences:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for column, justify in (("kind", "left"), ("bar (UTC)", "left"), ("client id", "left"), ("live", "left"),
                                ("replay", "left"), (f"effect {report.quote}", "right"), ("why", "left")):
            table.add_column(column, justify=justify, no_wrap=column not in ("live", "replay", "why"),
                             ratio=1 if column == "why" else None)
        for d in report.differences:
            table.add_row(KINDS[d.kind], _utc(d.ts_ms), "\n".join(d.client_ids),
                          d.live.figures() if d.live else "-", d.replay.figures() if d.replay else "-",
                          f"{d.effect:+,.2f}", d.why())
        console.print(table)
    console.print(report.summary(), highlight=False)
    share = f" ({report.explained_effect / report.effect:.0%})" if report.effect and abs(report.effect) > 1e-9 else ""
    console.print(f"equity: journal {report.live_equity:,.2f}, replay {report.replay_equity:,.2f}, difference "
                  f"{report.effect:+,.2f} {report.quote}; explained {report.explained_effect:+,.2f}{share}, "
                  f"unexplained differences {report.unexplained}, not attributed {report.residual:+,.2f}",
                  highlight=False)
    verdict = "[green]within bounds[/]" if not breaches else "[red]out of bounds[/]: " + "; ".join(breaches)
    console.print(f"drift rate {report.drift_rate:.2%} of {report.init_cash:,.2f} initial cash (bound {bound:.2%}): "
                  f"{verdict}", highlight=False)
