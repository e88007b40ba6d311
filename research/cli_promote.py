"""`gauntlet promote` and `gauntlet deployments`, as typer commands; `research/cli.py` registers them. Their
bodies (`research.promote_view`) load only when a command runs, so `gauntlet --help` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def promote(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="the walk-forward run id whose candidate to promote")],
    to: Annotated[str, typer.Option("--to", help="paper (the simulated venue on live candles) or live (real money)")],
    name: Annotated[Optional[str], typer.Option(help="deployment name (default: <strategy>-<symbol>-<timeframe>); "
                                                     "an existing name gets its next version")] = None,
    symbol: Annotated[Optional[str], typer.Option(help="the candidate of this symbol (default: the run's only one)")] = None,
    account: Annotated[str, typer.Option(help="label of the keys: GAUNTLET_API_KEY for default, else "
                                              "GAUNTLET_<ACCOUNT>_API_KEY (live)")] = "default",
    gate: Annotated[Optional[list[str]], typer.Option("--gate", help="a threshold, NAME=VALUE, e.g. --gate "
                                                      "min_dsr=0.9; repeat for each (see deployments/README.md)")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML with \\[gates] thresholds and the \\[risk] and "
                                                        "\\[realism] to trade with; flags override it")] = None,
    max_drawdown_rate: Annotated[Optional[float], typer.Option(help="drawdown breaker: no entries this far below "
                                                                    "peak equity, e.g. 0.2")] = None,
    daily_loss_rate: Annotated[Optional[float], typer.Option(help="breaker: no entries after losing this much in a "
                                                                  "UTC day, e.g. 0.05")] = None,
    force: Annotated[bool, typer.Option("--force", help="paper only: write despite failed gates (recorded)")] = False,
    confirm: Annotated[bool, typer.Option("--confirm", help="live: yes, trade real money (else asked in a "
                                                            "terminal)")] = False,
    allow_unrestricted_ip: Annotated[bool, typer.Option("--allow-unrestricted-ip", help="live: accept a key without "
                                                        "an IP restriction (recorded)")] = False,
    api_url: Annotated[Optional[str], typer.Option(help="live: ask the key's restrictions at this base URL (e.g. "
                                                        "the emulator)")] = None,
) -> None:
    """Check a run's candidate against every promotion gate and write deployments/<name>.toml (the next version)
    when all pass; otherwise list every failed gate with its figure and threshold, write nothing, exit 1."""
    from research.cli import _guarded
    from research.promote_view import PromoteArgs, promote_command

    args = PromoteArgs(run, to, name, symbol, account, tuple(gate or ()), config, max_drawdown_rate, daily_loss_rate,
                       force, confirm, allow_unrestricted_ip, api_url)
    if not _guarded(lambda: promote_command(args), ctx):
        raise typer.Exit(1)


def deployments() -> None:
    """Every deployment's newest version: venue, strategy, market, created, state and last heartbeat."""
    from research.cli import _guarded
    from research.promote_view import deployments_command

    _guarded(deployments_command)
