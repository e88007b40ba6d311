"""The gates only `--to live` adds: a paper track record of the same spec (days, fills, drift), and the
security checklist — keys only from the environment or a `.env` that git ignores, a key that cannot
withdraw, a key restricted to known IPs (waived only by `--allow-unrestricted-ip`, recorded), a stop or
drawdown breaker in the spec's risk section — and, once everything else passes, a confirmation.

The outside world comes in through `LiveSeams`: the journal reader of a paper deployment's record, the
factory of the ccxt client that asks the exchange about the key, and the interactive question.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.live.credentials import Keys, find_keys, key_names, read_api_restrictions
from engine.live.deployment import Deployment, DeploymentError, deployment_versions, read_deployment
from engine.live.gates import GateResult, GateThresholds
from engine.live.history import PaperEvidence, read_paper_evidence
from engine.spec import RunSpec, dotted_fields

__all__ = ["LiveCheck", "LiveSeams", "LiveTarget", "confirmation_gate", "env_file_status", "live_gates"]

_NOT_COMPARED = ("market.start", "market.end", "strategy.path", "strategy.ref")  # the window; where the file sits


@dataclass(frozen=True)
class LiveSeams:
    paper_evidence: Callable[[str], PaperEvidence | None] = read_paper_evidence
    exchange: Callable[[str, Keys], Any] | None = None  # (exchange id, keys) -> a ccxt client; None: cannot ask
    ask: Callable[[list[GateResult]], bool] | None = None  # the interactive yes; None: no terminal to ask in


@dataclass(frozen=True)
class LiveTarget:
    """What is about to go live, and where to look for its paper record and its keys."""

    run_id: str
    name: str  # of the deployment
    spec: RunSpec
    declares_stop: bool  # the strategy promises a stop on every entry
    account: str
    thresholds: GateThresholds
    deployments_dir: Path
    env_file: Path
    allow_unrestricted_ip: bool = False


@dataclass(frozen=True)
class LiveCheck:
    gates: list[GateResult]
    paper: str | None = None  # "NAME vN" of the paper deployment whose record was read


def live_gates(target: LiveTarget, seams: LiveSeams) -> LiveCheck:
    """Every live gate but the confirmation (asked last, see `confirmation_gate`)."""
    paper, why_not = _paper_of(target.spec, target.deployments_dir)
    if paper is None:
        why_not += (f"; run `gauntlet promote {target.run_id} --to paper` with the same risk and realism options, "
                    f"then `gauntlet run {target.name}` for {target.thresholds.min_paper_days:g} days")
    gates = _paper_gates(paper, why_not, target.thresholds, seams)
    keys = find_keys(target.account, target.env_file)
    gates.append(_keys_gate(keys, target))
    gates += _restriction_gates(keys, target, seams)
    gates.append(_breaker_gate(target))
    return LiveCheck(gates, paper.label() if paper else None)


def _paper_of(spec: RunSpec, root: Path) -> tuple[Deployment | None, str]:
    """The newest paper deployment of this very spec (window aside), or why there is none."""
    mine = _comparable(spec)
    nearest: tuple[int, str] | None = None
    papers = []
    for versions in deployment_versions(root).values():
        for _, path in versions:
            try:
                found = read_deployment(path)
            except DeploymentError:
                continue
            if found.venue.kind != "paper":
                continue
            theirs = _comparable(found.spec)
            differing = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            if not differing:
                papers.append(found)
            elif found.spec.strategy.name == spec.strategy.name and (nearest is None or len(differing) < nearest[0]):
                nearest = (len(differing), f"{found.label()} differs in {', '.join(differing)}")
    if papers:
        return max(papers, key=lambda d: d.created), ""
    return None, "no paper deployment of this spec" + (f" ({nearest[1]})" if nearest else "")


def _comparable(spec: RunSpec) -> dict[str, Any]:
    return {k: v for k, v in dotted_fields(spec.model_dump()).items() if k not in _NOT_COMPARED}


def _paper_gates(paper: Deployment | None, why_not: str, t: GateThresholds, seams: LiveSeams) -> list[GateResult]:
    names = ("paper days run", "paper fills", "paper drift: unexplained differences", "paper drift rate")
    limits = ((">=", t.min_paper_days), (">=", t.min_paper_fills), ("<=", t.max_unexplained_drift),
              ("<=", t.max_drift_rate))
    evidence, hint = None, why_not
    if paper is not None:
        try:
            evidence = seams.paper_evidence(paper.name)
        except (LookupError, OSError) as exc:
            hint = str(exc)
        if evidence is None and not hint:
            hint = f"{paper.label()} has never run: run `gauntlet run {paper.name}` for {t.min_paper_days:g} days first"
    if evidence is None:
        return [GateResult(name=n, passed=False, threshold=x, rule=r, detail=hint) for n, (r, x) in zip(names, limits)]
    source = f"{evidence.deployment}'s journal"
    figures = (evidence.days, evidence.fills, evidence.unexplained_differences, evidence.drift_rate)
    return [GateResult.compare(n, f, r, x, source) for n, f, (r, x) in zip(names, figures, limits)]


def env_file_status(env_file: Path) -> str:
    """absent, ignored, tracked, not ignored, outside git, or no git: what git makes of a `.env` file."""
    if not env_file.is_file():
        return "absent"
    folder, name = str(env_file.parent), env_file.name
    try:
        inside = subprocess.run(["git", "-C", folder, "rev-parse", "--is-inside-work-tree"], capture_output=True)
        if inside.returncode != 0:
            return "outside git"
        if subprocess.run(["git", "-C", folder, "ls-files", "--error-unmatch", "--", name],
                          capture_output=True).returncode == 0:
            return "tracked"
        ignored = subprocess.run(["git", "-C", folder, "check-ignore", "-q", "--", name], capture_output=True)
    except OSError:
        return "no git"
    return "ignored" if ignored.returncode == 0 else "not ignored"


def _keys_gate(keys: Keys | None, target: LiveTarget) -> GateResult:
    status = env_file_status(target.env_file)
    name = "API keys from the environment or a git-ignored .env"
    rule = "environment or git-ignored .env"
    if status in ("tracked", "not ignored", "no git"):
        fix = "git rm --cached .env, add .env to .gitignore" if status == "tracked" else "add .env to .gitignore"
        return GateResult(name=name, passed=False, figure=f".env {status}", threshold=rule, rule="==",
                          detail=f"{target.env_file} is {status} by git (a key in it can be committed): {fix}")
    if keys is None:
        key, secret = key_names(target.account)
        return GateResult(name=name, passed=False, figure="no keys", threshold=rule, rule="==",
                          detail=f"set {key} and {secret} in the environment or in a git-ignored .env")
    figure = "environment" if keys.source == "environment" else f".env ({status})"
    return GateResult(name=name, passed=True, figure=figure, threshold=rule, rule="==",
                      detail=f"{key_names(target.account)[0]} of account {target.account}")


def _restriction_gates(keys: Keys | None, target: LiveTarget, seams: LiveSeams) -> list[GateResult]:
    withdraw, ip = "key cannot withdraw", "key restricted to known IPs"
    try:
        if keys is None:
            raise LookupError("no key to ask about")
        if seams.exchange is None:
            raise LookupError("no exchange client to ask the key's restrictions with")
        found = read_api_restrictions(seams.exchange(target.spec.market.exchange, keys))
    except Exception as exc:  # noqa: BLE001 - any failure to ask the exchange is a failed gate, with its reason
        why = f"cannot read the key's restrictions: {type(exc).__name__}: {exc}"
        return [GateResult(name=withdraw, passed=False, threshold=False, rule="==", detail=why),
                GateResult(name=ip, passed=False, threshold=True, rule="==", detail=why)]
    no_withdraw = GateResult(name=withdraw, passed=not found.withdrawals_enabled, figure=found.withdrawals_enabled,
                             threshold=False, rule="==", detail="enableWithdrawals" + (
                                 ": create a key without the withdrawal permission" if found.withdrawals_enabled else ""))
    restricted = GateResult(name=ip, passed=found.ip_restricted, figure=found.ip_restricted, threshold=True, rule="==",
                            detail="ipRestrict" + ("" if found.ip_restricted else
                                                   ": restrict the key to your IPs, or pass --allow-unrestricted-ip "
                                                   "(recorded in the deployment)"))
    if not found.ip_restricted and target.allow_unrestricted_ip:
        restricted = restricted.model_copy(update={"waived_by": "--allow-unrestricted-ip"})
    return [no_withdraw, restricted]


def _breaker_gate(target: LiveTarget) -> GateResult:
    risk = target.spec.risk
    limits = risk.limits
    found = [f"risk.limits.{n}={getattr(limits, n)}" for n in ("max_drawdown_rate", "daily_loss_rate")
             if getattr(limits, n) is not None]
    found += ["risk.limits.require_stop=true"] if limits.require_stop else []
    found += ["the strategy declares a stop on every entry"] if target.declares_stop else []
    passed = risk.enabled and bool(found)
    detail = ("risk rules are off (risk.enabled = false)" if not risk.enabled else
              "" if found else "add --max-drawdown-rate 0.2 or --daily-loss-rate 0.05 (or risk.limits in --config)")
    return GateResult(name="stop or drawdown breaker", passed=passed, figure=", ".join(found) or "none",
                      threshold="a stop or a drawdown breaker", rule="==", detail=detail)


def confirmation_gate(confirmed: bool, others_ok: bool, ask: Callable[[], bool] | None) -> GateResult:
    """`--confirm`, or a yes to the question asked only once every other gate passes and there is a terminal."""
    how = "--confirm" if confirmed else ""
    if not confirmed and others_ok and ask is not None and ask():
        how = "interactive yes"
    detail = ("" if how else "pass --confirm (or answer yes in a terminal, asked once every other gate passes)")
    return GateResult(name="confirmed", passed=bool(how), figure=how or "no", threshold="--confirm or a yes", rule="==",
                      detail=detail)
