"""The strategy contract and how a strategy is found: a built-in name, a dotted module, or a .py file.

A strategy module exposes `Params` (a frozen dataclass, validated in `__post_init__`, with a `warmup` in
bars), `GRID` (the default sweep grid: parameter name -> values) and `signals(bars, params) -> Signals`,
pure and causal. `Strategy` wraps such a module and turns user text into typed parameters.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import itertools
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, get_type_hints

import numpy as np

from engine.strategy.bars import Bars
from engine.core.risk import RiskConfig
from engine.strategy.signals import Signals

BUILTINS = ("sma_cross", "ema_cross", "rsi_reversion", "donchian_breakout", "atr_trend")
_CONTRACT = "a strategy module needs Params (a frozen dataclass with warmup), GRID and signals(bars, params)"


@dataclass(frozen=True)
class Strategy:
    name: str
    module: ModuleType

    @property
    def Params(self) -> type:  # noqa: N802 - the contract's name
        return self.module.Params

    @property
    def grid(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self.module.GRID.items()}

    @property
    def param_types(self) -> dict[str, type]:
        hints = get_type_hints(self.Params)
        return {f.name: hints[f.name] for f in dataclasses.fields(self.Params)}

    @property
    def declares_stop(self) -> bool:
        """The strategy promises a stop-loss on every entry (`DECLARES_STOP = True` in its module)."""
        return bool(getattr(self.module, "DECLARES_STOP", False))

    def risk_rules(self, risk: RiskConfig | None) -> RiskConfig | None:
        """The rules this strategy trades under: a declared stop becomes a required one, so an entry without
        it is refused in replay, paper and live alike (None: no rules, as the sweep trades)."""
        if risk is None or not self.declares_stop:
            return risk
        return dataclasses.replace(risk, limits=dataclasses.replace(risk.limits, require_stop=True))

    def signals(self, bars: Bars, params: Any) -> Signals:
        """The strategy's signals, checked: an exception inside it, or a size or stop no order can take,
        becomes one `StrategyError` naming the strategy, the parameters and where (file and line, or bar)."""
        try:
            result = self.module.signals(bars, params)
        except Exception as exc:  # noqa: BLE001 - any bug in user code becomes one clear error
            raise StrategyError(f"{self.name} {params}: signals() raised {type(exc).__name__}: {exc} "
                                f"(at {_where(exc, self.module)})") from exc
        if not isinstance(result, Signals):
            raise StrategyError(f"{self.name}.signals returned {type(result).__name__}, not Signals")
        if len(result) != len(bars):
            raise StrategyError(f"{self.name}.signals returned {len(result)} rows for {len(bars)} bars")
        if (problem := _bad_values(result)) is not None:
            column, rule, bad = problem
            raise StrategyError(f"{self.name} {params}: {column} must be {rule}; it is {_column(result, column)[bad[0]]} "
                                f"at bar {bad[0]} ({_utc(bars.ts_ms[bad[0]])}), the first of {len(bad)} such bar(s)")
        return result

    def params(self, values: Mapping[str, Any] | None = None) -> Any:
        """Typed, validated parameters from values that may be text (`{"fast": "10"}`); defaults fill the rest."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.param_types))
        if unknown:
            raise ValueError(f"{self.name} has no parameter {', '.join(unknown)}; its parameters are "
                             f"{', '.join(self.param_types)}")
        typed = {name: coerce(self.name, name, value, self.param_types[name]) for name, value in values.items()}
        try:
            return self.Params(**typed)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.name}: {exc}") from exc

    def grid_params(self, grid: Mapping[str, Sequence[Any]] | None = None) -> Iterator[Any]:
        """Every valid combination of a grid (the strategy's own by default), in product order; combinations
        the strategy's `Params` refuses (e.g. fast >= slow) are skipped, as vectorbt's `run_combs` would."""
        grid = dict(grid or self.grid)
        names = list(grid)
        for combo in itertools.product(*(grid[name] for name in names)):
            try:
                yield self.params(dict(zip(names, combo, strict=True)))
            except ValueError:
                continue


class StrategyError(ValueError):
    """A strategy's own code failed or produced signals no order can follow; the message says where."""


def _where(exc: BaseException, module: ModuleType) -> str:
    """file:line of the deepest frame inside the strategy's own file (else the deepest frame at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename == getattr(module, "__file__", None)]
    frame = (own or frames)[-1]
    return f"{frame.filename}:{frame.lineno}"


def _column(signals: Signals, name: str) -> np.ndarray:
    return getattr(signals, name)


def _bad_values(signals: Signals) -> tuple[str, str, np.ndarray] | None:
    """(column, rule, offending bars) of the first rule broken: a size at an entry must be in (0, 1] (NaN
    or 0 would make vectorbt skip the order silently), a stop distance NaN (none) or >= 0."""
    if signals.size is not None:
        entry = signals.entries | (signals.short_entries if signals.short_entries is not None else False)
        size = signals.size
        bad = np.flatnonzero(entry & ~((size > 0.0) & (size <= 1.0)))  # NaN fails both comparisons
        if len(bad):
            return "size", "in (0, 1] at every entry", bad
    for name in ("sl_stop", "tp_stop"):
        stop = getattr(signals, name)
        if stop is not None and len(bad := np.flatnonzero(stop < 0.0)):
            return name, "NaN (no stop) or a distance >= 0", bad
    return None


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(int(ts_ms) / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def coerce(strategy: str, name: str, value: Any, kind: type) -> Any:
    """Turn a parameter value (often text from the command line) into its declared type, or say what is wrong."""
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        if kind is int and isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {name} of {strategy} is {kind.__name__}; got {value!r}") from None


def load_strategy(spec: str) -> Strategy:
    """A built-in name (`sma_cross`), a dotted module (`mypkg.mystrat`) or a file (`path/to/mystrat.py`)."""
    if spec in BUILTINS:
        module = importlib.import_module(f"engine.strategy.builtins.{spec}")
    elif spec.endswith(".py"):
        module = _from_file(Path(spec))
    else:
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not spec.startswith(exc.name):
                raise  # the strategy exists but imports something missing: show that
            raise ValueError(f"unknown strategy {spec!r}: not a built-in ({', '.join(BUILTINS)}), an importable "
                             f"module, or a .py file") from None
    name = spec if spec in BUILTINS else Path(spec).stem if spec.endswith(".py") else module.__name__.rsplit(".", 1)[-1]
    check_contract(name, module)
    return Strategy(name, module)


def _from_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ValueError(f"strategy file {path} does not exist")
    module_name = f"gauntlet_strategy_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import strategy file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses need the module registered while it executes
    spec.loader.exec_module(module)
    return module


def check_contract(name: str, module: ModuleType) -> None:
    """Name every part of the contract a module lacks, in one message."""
    problems = [f"missing {attr}" for attr in ("Params", "GRID", "signals") if not hasattr(module, attr)]
    params = getattr(module, "Params", None)
    if params is not None:
        if not dataclasses.is_dataclass(params) or not params.__dataclass_params__.frozen:
            problems.append("Params is not a frozen dataclass")
        elif not hasattr(params, "warmup"):
            problems.append("Params has no warmup (bars of history a decision needs)")
    grid = getattr(module, "GRID", None)
    if grid is not None and not (isinstance(grid, Mapping) and all(isinstance(v, Iterable) for v in grid.values())):
        problems.append("GRID is not a mapping of parameter name -> values")
    if hasattr(module, "signals") and not callable(module.signals):
        problems.append("signals is not callable")
    if problems:
        raise ValueError(f"strategy {name} does not meet the contract: {'; '.join(problems)} ({_CONTRACT})")
