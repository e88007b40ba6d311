"""`gauntlet run`, `gauntlet status`, `gauntlet stop` / `resume` and `gauntlet journal export`, as typer commands;
`research/cli.py` registers them. The engine loads only when a command runs, so `gauntlet --help` stays fast."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

journal_app = typer.Typer(no_args_is_help=True, help="A deployment's journal: export it.")


@dataclass(frozen=True)
class RunArgs:
    names: tuple[str, ...]
    api_url: str | None = None
    speed: float = 1.0
    candles: int | None = None
    until: str | None = None
    snapshot_every: int = 100
    stale_after: float = 1.0
    max_exposure_rate: float | None = None
    max_asset_rate: float | None = None
    max_drawdown_rate: float | None = None
    recv_window_ms: int = 5_000
    absent_margin_ms: int = 5_000


def run(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="deployment name(s): deployments/NAME.toml (the newest version)")],
    api_url: Annotated[Optional[str], typer.Option(help="talk to the exchange here, e.g. the emulator "
                                                        "http://127.0.0.1:PORT")] = None,
    speed: Annotated[float, typer.Option(min=0.000001, help="the exchange's clock runs this many times faster than "
                                                             "wall time (an accelerated emulator's --speed)")] = 1.0,
    candles: Annotated[Optional[int], typer.Option(min=1, help="stop after this many candles of each market")] = None,
    until: Annotated[Optional[str], typer.Option(help="stop before the candle opening at this time (UTC)")] = None,
    snapshot_every: Annotated[int, typer.Option(min=1, help="keep a snapshot of the books every N candles")] = 100,
    stale_after: Annotated[float, typer.Option(min=0.0, help="a candle later than this many bars after its close is "
                                                             "stale: no new entries on it")] = 1.0,
    max_exposure_rate: Annotated[Optional[float], typer.Option(help="portfolio: every position together, as a share "
                                                                    "of the process's equity")] = None,
    max_asset_rate: Annotated[Optional[float], typer.Option(help="portfolio: one asset's positions, as a share of "
                                                                 "the process's equity")] = None,
    max_drawdown_rate: Annotated[Optional[float], typer.Option(help="portfolio: halt (latch every kill switch) this "
                                                                    "far below the process's peak equity")] = None,
    recv_window_ms: Annotated[int, typer.Option(min=1, max=60_000, help="live: how long a signed order request stays "
                                                "valid at the exchange (Binance's recvWindow, ms)")] = 5_000,
    absent_margin_ms: Annotated[int, typer.Option(min=0, help="live: an unanswered order counts as never placed only "
                                                  "this long past its recvWindow, after 3 spaced look-ups (ms)")] = 5_000,
) -> None:
    """Trade deployments, paper or live, on closed candles (one process, one feed per market) until --candles,
    --until, SIGTERM or Ctrl-C; the journal (data/journal/NAME.sqlite) survives a kill and the next run resumes
    from it. A live deployment's keys come from the environment or .env (GAUNTLET_API_KEY / GAUNTLET_API_SECRET,
    or GAUNTLET_<ACCOUNT>_...)."""
    from research.cli import _guarded

    args = RunArgs(tuple(names), api_url, speed, candles, until, snapshot_every, stale_after, max_exposure_rate,
                   max_asset_rate, max_drawdown_rate, recv_window_ms, absent_margin_ms)
    code = _guarded(lambda: _run(args), ctx)
    raise typer.Exit(code)


def _run(args: RunArgs) -> int:
    import asyncio

    import ccxt

    from engine.live.feed import FeedConfig
    from engine.live.portfolio import PortfolioLimits
    from engine.live.runner import Runner, RunnerConfig
    from engine.logs import configure_logging
    from engine.ohlcv import to_ms
    from engine.settings import settings
    from engine.venues.submission import ProofPolicy

    configure_logging()
    limits = PortfolioLimits(args.max_exposure_rate, args.max_asset_rate, args.max_drawdown_rate)
    proof = ProofPolicy(recv_window_ms=args.recv_window_ms, margin_ms=args.absent_margin_ms, speed=args.speed)
    config = RunnerConfig(settings().data_dir, settings().deployments_dir, args.api_url, args.speed, args.candles,
                          to_ms(args.until), args.snapshot_every, FeedConfig(stale_after_bars=args.stale_after), limits,
                          proof=proof)
    try:
        return asyncio.run(Runner(config).run(list(args.names)))
    except ccxt.BaseError as exc:
        where = args.api_url or "the exchange"
        raise RuntimeError(f"cannot talk to {where}: {type(exc).__name__}: {str(exc)[:200]}") from None


def status(
    name: Annotated[Optional[str], typer.Argument(help="a deployment (default: every one with a journal)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (one object, or a list without NAME)")] = False,
) -> None:
    """Position, open orders, cash, PnL, risk state, kill switch, last candle and heartbeat, from the journal."""
    from research.cli import _guarded

    _guarded(lambda: _status(name, as_json))


def _status(name: str | None, as_json: bool) -> None:
    from engine.live.status import read_status
    from engine.settings import settings

    data = settings().data_dir
    names = [name] if name is not None else sorted(p.stem for p in (data / "journal").glob("*.sqlite"))
    if not names:
        raise LookupError(f"no deployment has a journal in {data / 'journal'}: none has run yet")
    found = [read_status(n, data) for n in names]
    if as_json:
        body = found[0].as_dict() if name is not None else [s.as_dict() for s in found]
        typer.echo(json.dumps(body, indent=1))
        return
    for one in found:
        _print_status(one)


def _print_status(s) -> None:  # noqa: ANN001 - engine.live.status.Status, imported lazily
    from research.console import console

    pnl = f"{s.pnl:+,.2f} ({s.pnl / s.init_cash:+.2%})" if s.init_cash else f"{s.pnl:+,.2f}"
    lines = [f"[bold]{s.name}[/]: {s.state}, last candle {s.last_candle or '-'}, heartbeat {s.last_heartbeat or '-'}",
             f"  position {s.position:.8g}, cash {s.cash:,.2f}, equity {s.equity:,.2f}, PnL {pnl}, fills {s.fills}",
             f"  open orders: {len(s.open_orders)}" + "".join(f"\n    {o['client_id']} {o['side']} {o['type']} "
                                                           f"{o['status']}" for o in s.open_orders),
             f"  risk: {', '.join(f'{k} {v:g}' for k, v in s.risk.items()) or '-'}; refused: "
             f"{', '.join(f'{k} {v}' for k, v in s.refusals.items()) or 'none'}"]
    if s.kill_switch:
        closing = f", {s.flatten}" if s.flatten else ""
        lines.append(f"  [red]kill switch latched{closing}[/]: {s.kill_switch} (`gauntlet resume {s.name}` unlatches)")
    console.print("\n".join(lines), highlight=False)


def stop(
    name: Annotated[str, typer.Argument(help="the deployment")],
    reason: Annotated[str, typer.Option(help="why, kept with the latch")] = "stopped by hand",
    flatten: Annotated[bool, typer.Option("--flatten", help="also close the position at the next candle (one "
                                                            "reduce-only market order)")] = False,
) -> None:
    """Latch the kill switch: the runner cancels the deployment's open orders and refuses new entries (exits still
    go) until `gauntlet resume NAME`; it holds across restarts. With --flatten it also closes the position at the
    next candle, once."""
    from research.cli import _guarded

    _guarded(lambda: _switch(name, reason, flatten))


def resume(name: Annotated[str, typer.Argument(help="the deployment")]) -> None:
    """Unlatch the kill switch of a deployment."""
    from research.cli import _guarded

    _guarded(lambda: _switch(name, None))


def _switch(name: str, reason: str | None, flatten: bool = False) -> None:
    from engine.live.killswitch import KillSwitch
    from engine.settings import settings

    switch = KillSwitch.of(name, settings().data_dir)
    if reason is not None:
        _known(name)
        switch.latch(reason, flatten)
        latch = switch.read()
        closing = "; the position is closed at the next candle" if latch is not None and latch.flatten else ""
        typer.echo(f"{name}: kill switch latched ({switch.reason()}){closing}; `gauntlet resume {name}` unlatches it")
    elif switch.reset():
        typer.echo(f"{name}: kill switch unlatched; entries resume at the next candle")
    else:
        raise LookupError(f"{name}: the kill switch is not latched")


def _known(name: str) -> None:
    from engine.live.deployment import deployment_versions
    from engine.settings import settings

    root = settings().deployments_dir
    if name not in deployment_versions(root):
        raise LookupError(f"no deployment {name!r} in {root}")


@journal_app.command("export")
def journal_export(
    name: Annotated[str, typer.Argument(help="the deployment")],
    out: Annotated[Optional[Path], typer.Option(help="folder for the Parquet files (default: "
                                                     "reports/journal-NAME)")] = None,
) -> None:
    """Write the deployment's orders, fills and events as Parquet (orders.parquet, fills.parquet, events.parquet)."""
    from research.cli import _guarded

    _guarded(lambda: _export(name, out))


def _export(name: str, out: Path | None) -> None:
    from engine.live.history import journal_path
    from engine.live.journal import Journal
    from engine.settings import settings

    path = journal_path(name)
    if not path.is_file():
        raise LookupError(f"deployment {name} has no journal at {path}: it has never run")
    folder = out if out is not None else settings().reports_dir / f"journal-{name}"
    with Journal.open(path) as journal:
        written = journal.export(name, folder)
    for file in written:
        typer.echo(str(file))
