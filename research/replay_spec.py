"""Which spec `gauntlet replay` runs: one built from flags, or a run's complete spec (`--from-run`), where
each flag given explicitly overrides one field and the replay says which.

Every replay option names one spec field (`FLAG_FIELDS`); `--ideal` is a preset (the sweep's assumptions),
applied before the single-field flags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.spec import MarketSpec, RealismSpec, RunSpec, StrategySpec, dotted_fields, source_sha256
from engine.strategy.contract import Strategy, load_strategy
from research.grid import parse_params
from research.runs import load_record, recorded_source, strategy_record

FLAG_FIELDS = {
    "exchange": "market.exchange", "symbol": "market.symbol", "timeframe": "market.timeframe",
    "start": "market.start", "end": "market.end",
    "fee_rate": "costs.fee_rate", "slippage_rate": "costs.slippage_rate", "init_cash": "costs.init_cash",
    "maker_fee_rate": "costs.maker_fee_rate",
    "exchange_rules": "realism.exchange_rules", "partial_fills": "realism.partial_fills",
    "participation_cap": "realism.participation_cap", "impact_rate": "realism.impact_rate",
    "latency_bars": "realism.latency_bars", "borrow_rate": "realism.borrow_rate",
    "vectorbt_stops": "realism.vectorbt_stops",
    "risk_rules": "risk.enabled",
    "sizing": "risk.sizing.method", "fraction": "risk.sizing.fraction", "risk_per_trade": "risk.sizing.risk_per_trade",
    "atr_mult": "risk.sizing.atr_mult", "kelly_lookback": "risk.sizing.kelly_lookback",
    "max_position_rate": "risk.limits.max_position_rate", "max_exposure_rate": "risk.limits.max_exposure_rate",
    "max_positions": "risk.limits.max_positions", "max_drawdown_rate": "risk.limits.max_drawdown_rate",
    "daily_loss_rate": "risk.limits.daily_loss_rate", "loss_streak": "risk.limits.loss_streak",
    "cooldown_bars": "risk.limits.cooldown_bars", "require_stop": "risk.limits.require_stop",
}


@dataclass(frozen=True)
class ReplayRequest:
    """What the user asked for: a strategy and params, or a run; `flags` holds only options given explicitly."""

    strategy: str | None = None
    params: str | None = None
    from_run: str | None = None
    window: str | None = None  # a walk-forward's: oos (default) or all
    use_recorded_source: bool = False
    ideal: bool | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    config: str | None = None  # a spec file (TOML), e.g. one written by --save-config


@dataclass
class Resolved:
    spec: RunSpec
    strategy: Strategy
    notes: list[str]  # what the user should know: overrides, the window, a changed source


def resolve(request: ReplayRequest) -> Resolved:
    unknown = set(request.flags) - set(FLAG_FIELDS)
    if unknown:
        raise ValueError(f"not replay options: {', '.join(sorted(unknown))}")
    if request.config is not None and request.from_run is not None:
        raise ValueError("give --config FILE or --from-run RUN_ID, not both")
    if request.config is not None:
        base, strategy, notes = _from_file(request)
    elif request.from_run is not None:
        base, strategy, notes = _from_run(request)
    else:
        return _fresh(request)
    spec = _apply(base, request)
    if request.strategy is not None:
        strategy = load_strategy(request.strategy)
    origin = f"the spec in {request.config}" if request.config else "the run's spec"
    notes += [f"overrides {origin}: {line}" for line in _changes(base, spec)]
    return Resolved(spec, strategy, notes)


def _from_file(request: ReplayRequest) -> tuple[RunSpec, Strategy, list[str]]:
    if request.window is not None or request.use_recorded_source:
        raise ValueError("--window and --use-recorded-source apply to --from-run")
    spec, notes = RunSpec.read(request.config), []
    _warn_if_changed(spec, f"{request.config} was written", notes)
    strategy = load_strategy(spec.strategy.ref)
    return spec.replace({"strategy": {**strategy_record(strategy), "ref": spec.strategy.ref}}), strategy, notes


def _warn_if_changed(spec: RunSpec, since: str, notes: list[str]) -> None:
    if spec.strategy.path and spec.strategy.sha256 and _sha(spec.strategy.path) != spec.strategy.sha256:
        notes.append(f"warning: {spec.strategy.path} changed since {since} (sha256 {spec.strategy.sha256[:12]} "
                     f"then, {_sha(spec.strategy.path)[:12]} now)")


def _fresh(request: ReplayRequest) -> Resolved:
    if request.params is None:
        raise ValueError("give the parameters: --param NAME=VALUE (repeated) or --from-run RUN_ID (one of them)")
    if not (request.strategy and request.flags.get("symbol")):
        raise ValueError("replay needs STRATEGY and --symbol (or --from-run RUN_ID)")
    if request.window is not None or request.use_recorded_source:
        raise ValueError("--window and --use-recorded-source apply to --from-run")
    strategy = load_strategy(request.strategy)
    params = asdict(parse_params(strategy, request.params))
    base = RunSpec(strategy=StrategySpec(**strategy_record(strategy)), params=params,
                   market=MarketSpec(symbol=request.flags["symbol"]))
    return Resolved(_apply(base, request), strategy, [])


def _apply(base: RunSpec, request: ReplayRequest) -> RunSpec:
    changes: dict[str, Any] = {}
    if request.ideal is not None:  # the preset first: every realism field, and risk on or off
        realism = RealismSpec.ideal() if request.ideal else RealismSpec()
        changes |= {f"realism.{k}": v for k, v in realism.model_dump().items()}
        changes["risk.enabled"] = not request.ideal
    flags = request.flags
    changes |= {FLAG_FIELDS[name]: value for name, value in flags.items()}
    risk_flags = [n for n in flags if FLAG_FIELDS[n].startswith(("risk.limits.", "risk.sizing."))]
    if risk_flags and "risk_rules" not in flags:
        changes["risk.enabled"] = True  # a risk limit asked for is a risk limit applied
    if request.strategy is not None and (request.from_run is not None or request.config is not None):
        changes["strategy"] = strategy_record(load_strategy(request.strategy))
    spec = base.replace(changes) if changes else base
    if request.params is not None and (request.from_run is not None or request.config is not None):
        spec = _with_params(spec, request.params)
    return spec


def _with_params(spec: RunSpec, text: str) -> RunSpec:
    strategy = load_strategy(spec.strategy.ref)
    given = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in text.split(",") if p.strip())}
    merged = strategy.params({**spec.params, **given})
    return spec.replace({"params": asdict(merged)})


def _from_run(request: ReplayRequest) -> tuple[RunSpec, Strategy, list[str]]:
    """The run's spec (a replay's own, or the candidate of a sweep / walk-forward), its strategy, and notes."""
    record = load_record(request.from_run)
    notes: list[str] = []
    if record["kind"] == "replay":
        spec = RunSpec.parse(record.get("spec") or {}, f"run {request.from_run}")
    else:
        spec = _candidate(record, request, notes)
    if request.window is not None and record["kind"] != "walkforward":
        raise ValueError(f"--window applies to a walk-forward run; {request.from_run} is a {record['kind']} run")
    if request.use_recorded_source:
        copy = recorded_source(request.from_run)
        spec = spec.replace({"strategy": {**spec.strategy.model_dump(), "ref": str(copy), "path": str(copy)}})
        notes.append(f"strategy source: the run's copy {copy}")
    elif spec.strategy.path and spec.strategy.sha256 and _sha(spec.strategy.path) != spec.strategy.sha256:
        notes.append(f"warning: {spec.strategy.path} changed since run {request.from_run} "
                     f"(sha256 {spec.strategy.sha256[:12]} then, {_sha(spec.strategy.path)[:12]} now); "
                     "--use-recorded-source replays the run's copy")
    strategy = load_strategy(spec.strategy.ref)
    current = strategy_record(strategy)  # what this replay runs: the source as it is now
    return spec.replace({"strategy": {**current, "ref": spec.strategy.ref}}), strategy, notes


def _sha(path: str) -> str:
    try:
        return source_sha256(path)
    except OSError:
        return "missing"


def _candidate(record: dict, request: ReplayRequest, notes: list[str]) -> RunSpec:
    candidates = record.get("candidates")
    if not candidates and "strategy" not in record:  # written before runs recorded their candidates' specs
        candidates = _legacy(record, request.from_run)
        notes.append(f"run {request.from_run} predates recorded specs: its candidate's spec is rebuilt from its "
                     "config (window, costs); its strategy source was not recorded")
    if not candidates:
        raise ValueError(f"run {request.from_run} chose no parameters; pass --param NAME=VALUE and the flags instead")
    wanted = request.flags.get("symbol")
    symbol = wanted if wanted in candidates else next(iter(candidates))
    spec = RunSpec.parse(candidates[symbol], f"run {request.from_run}, candidate for {symbol}")
    if record["kind"] == "walkforward":
        spec = _window(spec, record.get("oos_windows", {}).get(symbol, []), request.window or "oos", notes)
    return spec


def _legacy(record: dict, run_id: str) -> dict:
    from research.candidates import legacy_candidates

    try:
        return legacy_candidates(record)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"run {run_id} predates recorded specs and its config cannot be read as one ({exc}); "
                         "pass --param NAME=VALUE and the flags instead") from None


def _window(spec: RunSpec, windows: list[list[str]], window: str, notes: list[str]) -> RunSpec:
    """A walk-forward candidate over its out-of-sample windows (one span from the first to the last), or `all`."""
    if window == "all":
        notes.append(f"window: the walk-forward's whole span ({spec.market.start or 'first bar'} -> "
                     f"{spec.market.end or 'last bar'})")
        return spec
    if window != "oos":
        raise ValueError(f"--window {window!r}: oos (the out-of-sample windows) or all (the whole span)")
    if not windows:
        raise ValueError("the walk-forward run recorded no out-of-sample windows; use --window all")
    gaps = sum(1 for (_, end), (start, _) in zip(windows, windows[1:]) if end != start)
    notes.append(f"window: the out-of-sample windows of folds 1-{len(windows)}, {windows[0][0]} -> {windows[-1][1]}"
                 + (f" ({gaps} gap(s) between windows are replayed too)" if gaps else " (contiguous)")
                 + "; --window all for the whole span")
    notes.append("note: this replays one candidate straight through those windows, from a cold start and holding "
                 "positions across fold boundaries, so its figures differ from the walk-forward's stitched "
                 "out-of-sample ones (each fold's own candidate, fresh at each fold)")
    return spec.replace({"market.start": windows[0][0], "market.end": windows[-1][1]})


def _changes(before: RunSpec, after: RunSpec) -> list[str]:
    old, new = dotted_fields(before.model_dump()), dotted_fields(after.model_dump())
    return [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)]

