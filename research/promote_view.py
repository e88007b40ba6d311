"""The bodies of `gauntlet promote` and `gauntlet deployments`: options into a request, the gates as a table
(figure, rule, threshold for each, pass or FAIL), every failure's reason spelled out, and the deployments
with their state."""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from rich.markup import escape
from rich.table import Table

from engine.live.deployment import DeploymentError, deployment_versions, read_deployment
from engine.live.gates import GateResult, GateThresholds
from engine.live.history import deployment_state
from engine.settings import settings
from engine.spec import RealismSpec, RiskSpec, describe
from research.console import console
from research.live_gates import LiveSeams
from research.promote import PromoteRequest, promote

__all__ = ["PromoteArgs", "deployments_command", "promote_command", "request_of"]


class PromoteConfig(BaseModel):
    """A `--config` file: `[gates]` thresholds, and the `[risk]` and `[realism]` the deployment trades with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gates: GateThresholds = GateThresholds()
    risk: RiskSpec = RiskSpec()
    realism: RealismSpec = RealismSpec()


@dataclass(frozen=True)
class PromoteArgs:
    run: str
    to: str
    name: str | None = None
    symbol: str | None = None
    account: str = "default"
    gate: tuple[str, ...] = ()  # NAME=VALUE threshold overrides
    config: Path | None = None
    max_drawdown_rate: float | None = None
    daily_loss_rate: float | None = None
    force: bool = False
    confirm: bool = False
    allow_unrestricted_ip: bool = False
    api_url: str | None = None  # ask the key's restrictions here (e.g. the emulator) instead of the exchange


def request_of(args: PromoteArgs) -> PromoteRequest:
    """Defaults, then the `--config` file, then the flags."""
    config = _read_config(args.config) if args.config is not None else PromoteConfig()
    thresholds = _with_gates(config.gates, args.gate)
    limits = {k: v for k, v in (("max_drawdown_rate", args.max_drawdown_rate), ("daily_loss_rate", args.daily_loss_rate))
              if v is not None}
    risk = config.risk
    if limits:
        risk = RiskSpec.model_validate({**risk.model_dump(), "enabled": True,
                                        "limits": {**risk.limits.model_dump(), **limits}})
    return PromoteRequest(run_id=args.run, to=args.to, name=args.name, symbol=args.symbol,  # type: ignore[arg-type]
                          account=args.account, force=args.force, confirm=args.confirm,
                          allow_unrestricted_ip=args.allow_unrestricted_ip, thresholds=thresholds, risk=risk,
                          realism=config.realism)


def _read_config(path: Path) -> PromoteConfig:
    try:
        return PromoteConfig.model_validate(tomllib.loads(Path(path).read_text()))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the promotion config: {exc}") from None
    except ValidationError as exc:
        raise ValueError(f"{path}: invalid promotion config: {describe(exc)}") from None


def _with_gates(base: GateThresholds, pairs: tuple[str, ...]) -> GateThresholds:
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--gate {pair!r}: write NAME=VALUE, e.g. --gate min_dsr=0.9")
        changes[name.strip()] = value.strip()
    try:
        return GateThresholds.model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        known = ", ".join(GateThresholds.model_fields)
        raise ValueError(f"--gate: {describe(exc)} (the gates: {known})") from None


def promote_command(args: PromoteArgs) -> bool:
    """Promote, print every gate, and say what was written or why nothing was."""
    request = request_of(args)
    seams = LiveSeams(exchange=_exchange_factory(args.api_url), ask=_ask if sys.stdin.isatty() else None)
    outcome = promote(request, seams=seams)
    console.print(gate_table(f"promote {request.run_id} --to {request.to}", outcome.gates))
    if outcome.deployment is None:
        console.print(f"[bold red]refused:[/] {len(outcome.failures)} of {len(outcome.gates)} gates failed; nothing "
                      "was written", highlight=False)
        for gate in outcome.failures:
            why = "" if gate.figure is None or not gate.detail else f": {gate.detail}"  # text() holds it otherwise
            console.print(f"  [red]x[/] {escape(gate.text() + why)}", highlight=False, soft_wrap=True)
        return False
    forced = f" ({len([g for g in outcome.gates if g.waived_by])} gate(s) waived, recorded)" if any(
        g.waived_by for g in outcome.gates) else ""
    console.print(f"[bold green]promoted:[/] {outcome.deployment.label()} ({request.to}) -> {outcome.path}{forced}",
                  highlight=False, soft_wrap=True)
    return True


def gate_table(title: str, gates: list[GateResult]) -> Table:
    table = Table("gate", "result", "figure", "rule", "threshold", "detail", title=title, title_justify="left")
    for g in gates:
        result = "[green]pass[/]" if g.passed else f"[yellow]waived ({g.waived_by})[/]" if g.waived_by else "[red]FAIL[/]"
        table.add_row(escape(g.name), result, _cell(g.figure), g.rule, _cell(g.threshold), escape(g.detail))
    return table


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.4g}" if isinstance(value, float) else escape(str(value))


def _ask(gates: list[GateResult]) -> bool:
    import typer

    console.print(gate_table("every gate but the confirmation passes", gates))
    return typer.confirm("Trade this deployment LIVE, with real money?", default=False)


def _exchange_factory(api_url: str | None):
    def build(exchange_id: str, keys):
        from engine.venues.ccxt_client import make_exchange

        return make_exchange(exchange_id, api_url=api_url, credentials=keys.ccxt_config())

    return build


def deployments_command(root: Path | None = None) -> None:
    """Each deployment's newest version: venue, strategy, market, when it was made, its state and heartbeat."""
    root = Path(root) if root is not None else settings().deployments_dir
    table = Table(title=f"deployments in {root}", title_justify="left")
    for column in ("name", "version", "venue", "strategy", "market", "created", "state", "last heartbeat"):
        table.add_column(column, no_wrap=column in ("name", "market", "created"))
    found = deployment_versions(root)
    for name, versions in found.items():
        version, path = versions[-1]
        try:
            d = read_deployment(path)
        except DeploymentError as exc:
            table.add_row(escape(name), str(version), "", "", "", "", f"[red]damaged[/]: {escape(str(exc))}", "")
            continue
        state = deployment_state(name)
        m = d.spec.market
        table.add_row(name, str(d.version), f"{d.venue.kind} {d.venue.exchange}/{d.venue.account}", d.spec.strategy.name,
                      f"{m.exchange} {m.symbol} {m.timeframe}", d.created, state.state, state.last_heartbeat or "-")
    console.print(table)
    if not found:
        console.print(f"no deployments yet: `gauntlet promote <run-id> --to paper` writes one into {root}",
                      highlight=False)
