"""One spec model: everything a replay needs to reproduce a run — strategy (with its source hash), params,
market and data window, costs, realism and risk — validated, frozen, and kept on disk as TOML.

A replay takes its spec from flags, from a run (`run.json` holds it) or from a file; a deployment will be
this spec plus venue and gates. Field names follow the style guide (`*_rate` for fractions); the
`to_*` methods are the one place the spec meets the engine's dataclasses.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.core.costs import Costs
from engine.core.realism import Realism
from engine.core.risk import RiskConfig, RiskLimits, Sizing

__all__ = ["CostsSpec", "MarketSpec", "RealismSpec", "RiskSpec", "RunSpec", "SizingSpec", "LimitsSpec",
           "SpecError", "StrategySpec", "dotted_fields", "source_sha256"]

ParamValue = bool | int | float | str


class SpecError(ValueError):
    """A spec that does not validate, with every failing field named in one line."""

    names_keys = False  # True: the message names a file's or a run's keys, which no flag should rename


class SpecFileError(SpecError):
    """A spec file or a run's record that does not validate: its keys (`costs.fee_rate`) are the names to fix."""

    names_keys = True


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def dotted_fields(tree: dict, prefix: str = "") -> dict[str, Any]:
    """A spec's dump as `costs.fee_rate`-style names to values: how errors, overrides and comparisons name a field."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out |= dotted_fields(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def source_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class StrategySpec(_Frozen):
    """A built-in name, dotted module or file, with the file it was loaded from and that file's sha256."""

    name: str = Field(min_length=1)
    ref: str = Field(min_length=1, description="what load_strategy was given: sma_cross, pkg.mod, path/x.py")
    path: str | None = None  # absolute path of the module's source
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class MarketSpec(_Frozen):
    exchange: str = "binance"
    symbol: str = Field(min_length=3)
    timeframe: str = "1h"
    start: str | None = None  # first bar (UTC, ISO-8601); None: the first cached
    end: str | None = None  # stop before this bar; None: the last cached

    @field_validator("start", "end")
    @classmethod
    def _a_time(cls, value: str | None) -> str | None:
        from engine.ohlcv import to_ms

        to_ms(value)  # raises naming the text it cannot read
        return value

    @model_validator(mode="after")
    def _ordered(self) -> MarketSpec:
        from engine.ohlcv import to_ms

        if self.start is not None and self.end is not None and to_ms(self.start) >= to_ms(self.end):
            raise ValueError(f"empty window: start {self.start} is not before end {self.end}")
        return self


class CostsSpec(_Frozen):
    fee_rate: float = Field(0.001, ge=0, lt=1)  # taker
    slippage_rate: float = Field(0.0005, ge=0, lt=1)
    init_cash: float = Field(10_000.0, gt=0)
    maker_fee_rate: float | None = Field(None, ge=0, lt=1)  # None: the taker rate

    def to_costs(self) -> Costs:
        return Costs(self.fee_rate, self.slippage_rate, self.init_cash, self.maker_fee_rate)


class RealismSpec(_Frozen):
    """`engine.sim.fills.Realism`; `RealismSpec.ideal()` is exactly the sweep's assumptions."""

    exchange_rules: bool = True
    partial_fills: bool = True
    participation_cap: float = Field(0.1, gt=0, le=1)
    impact_rate: float = Field(0.0, ge=0)
    latency_bars: int = Field(0, ge=0)
    borrow_rate: float = Field(0.10, ge=0)
    vectorbt_stops: bool = False

    @classmethod
    def ideal(cls) -> RealismSpec:
        return cls(**_fields_of(Realism.ideal(), cls))

    def to_realism(self) -> Realism:
        return Realism(**self.model_dump())


class LimitsSpec(_Frozen):
    max_position_rate: float = Field(1.0, gt=0, le=1)  # one position's notional as a share of equity
    max_exposure_rate: float = Field(1.0, gt=0, le=1)
    max_positions: int = Field(1, ge=1)
    daily_loss_rate: float | None = Field(None, gt=0, lt=1)
    max_drawdown_rate: float | None = Field(None, gt=0, lt=1)
    loss_streak: int | None = Field(None, ge=1)
    cooldown_bars: int = Field(0, ge=0)
    require_stop: bool = False


class SizingSpec(_Frozen):
    method: Literal["all", "fixed_fraction", "atr", "half_kelly"] = "all"
    fraction: float = Field(1.0, gt=0, le=1)
    risk_per_trade: float = Field(0.01, gt=0, le=1)
    atr_mult: float = Field(2.0, gt=0)
    kelly_lookback: int = Field(30, ge=1)


class RiskSpec(_Frozen):
    """Risk rules and sizing; `enabled = false` is the sweep's way: no checks, all-in."""

    enabled: bool = True
    limits: LimitsSpec = LimitsSpec()
    sizing: SizingSpec = SizingSpec()

    def to_config(self) -> RiskConfig | None:
        if not self.enabled:
            return None
        return RiskConfig(RiskLimits(**self.limits.model_dump()), Sizing(**self.sizing.model_dump()))


class RunSpec(_Frozen):
    """The complete spec of one replay: enough to reproduce it exactly."""

    strategy: StrategySpec
    params: dict[str, ParamValue] = {}  # the strategy's defaults fill what is missing
    market: MarketSpec
    costs: CostsSpec = CostsSpec()
    realism: RealismSpec = RealismSpec()
    risk: RiskSpec = RiskSpec()

    @classmethod
    def sweep_like(cls, strategy: StrategySpec, params: dict[str, Any], market: MarketSpec,
                   costs: CostsSpec) -> RunSpec:
        """What a sweep or walk-forward assumes: ideal execution, no risk rules (all-in)."""
        return cls(strategy=strategy, params=params, market=market, costs=costs, realism=RealismSpec.ideal(),
                   risk=RiskSpec(enabled=False))

    @classmethod
    def parse(cls, data: Any, where: str) -> RunSpec:
        """Validated, or a SpecError naming `where` and every failing field (dotted) in one line."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = SpecError if where == "override" else SpecFileError
            raise error(f"{where}: invalid spec: {describe(exc)}") from None

    @classmethod
    def read(cls, path: str | Path) -> RunSpec:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SpecFileError(f"{path}: cannot read the spec: {exc}") from None
        return cls.parse(data, str(path))

    def to_toml(self) -> str:
        return dump_toml(self.model_dump(exclude_none=True))

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_toml())
        return path

    def replace(self, changes: dict[str, Any]) -> RunSpec:
        """A copy with dotted fields changed (`{"costs.fee_rate": 0.002}`), validated again."""
        data = self.model_dump()
        for dotted, value in changes.items():
            *parents, leaf = dotted.split(".")
            node = data
            for part in parents:
                node = node[part]
            node[leaf] = value
        return type(self).parse(data, "override")


def describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())


def _fields_of(obj: Any, model: type[BaseModel]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in model.model_fields}


def dump_toml(data: dict[str, Any]) -> str:
    """TOML for a tree of tables, scalars and lists (what `RunSpec.model_dump` gives, and a deployment's
    lists): scalars and lists of scalars first, then sub-tables, each under its dotted header, and lists of
    tables as arrays of tables (`[[gates]]`)."""
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _table(data: dict[str, Any], path: list[str], lines: list[str], header: str = "[{}]") -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_tables(v)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict) or _is_tables(v)}
    if path and (scalars or not tables or header == "[[{}]]"):
        lines += ["", header.format(".".join(_key(p) for p in path))]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
    for key, sub in tables.items():
        for item in sub if isinstance(sub, list) else [sub]:
            _table(item, [*path, key], lines, "[[{}]]" if isinstance(sub, list) else "[{}]")


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")) if not math.isfinite(value) \
            else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"TOML cannot hold {type(value).__name__} {value!r}")
