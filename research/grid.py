"""Parameter grids from the command line: `fast=5:100:5` (inclusive range), `fast=5,10,20` (a list),
`fast=10` (one value); typed by the strategy's `Params`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.strategy import Strategy, coerce


def parse_values(strategy: Strategy, name: str, text: str) -> list[Any]:
    kind = strategy.param_types.get(name)
    if kind is None:
        raise ValueError(f"{strategy.name} has no parameter {name}; its parameters are {', '.join(strategy.param_types)}")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"--param {name}={text}: a range is START:STOP:STEP, e.g. {name}=5:100:5")
        start, stop, step = (coerce(strategy.name, name, part, kind) for part in parts)
        if not step > 0 or stop < start:
            raise ValueError(f"--param {name}={text}: need STEP > 0 and STOP >= START")
        count = int(np.floor((stop - start) / step + 1e-9)) + 1
        return [coerce(strategy.name, name, start + i * step, kind) for i in range(count)]
    return [coerce(strategy.name, name, part, kind) for part in text.split(",") if part != ""]


def parse_grid(strategy: Strategy, specs: Sequence[str]) -> dict[str, list[Any]]:
    """The strategy's default GRID with the given `name=values` overrides."""
    grid = strategy.grid
    for spec in specs:
        name, sep, text = spec.partition("=")
        if not sep or not text:
            raise ValueError(f"--param {spec!r}: expected NAME=VALUES, e.g. fast=5:100:5 or fast=5,10,20")
        grid[name.strip()] = parse_values(strategy, name.strip(), text.strip())
    for name in strategy.param_types:
        grid.setdefault(name, [getattr(strategy.params(), name)])
    return grid


def parse_params(strategy: Strategy, text: str) -> Any:
    """`fast=10,slow=30` -> a validated Params."""
    values = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"--params {text!r}: expected NAME=VALUE pairs, e.g. fast=10,slow=30")
        values[name.strip()] = value.strip()
    return strategy.params(values)
