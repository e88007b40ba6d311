"""Strategy parameters from the command line, one grammar for every command: `--param NAME=VALUES`, repeated.

VALUES is one value (`fast=10`: a point), an inclusive range (`fast=5:100:5`) or a list (`fast=5,10,20`): a
grid. Sweep and walk-forward take grids; replay and the causality check take points. Values are typed by
the strategy's `Params`. Several pairs in one flag (`--param fast=10,slow=30`) read as two flags, which also
keeps the old `--params fast=10,slow=30` spelling meaning what it meant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.strategy.contract import Strategy, coerce

FLAG = "--param"
EXAMPLE = "e.g. --param fast=10 --param slow=30 (a point) or --param fast=5:50:5 --param slow=20,40 (a grid)"


def split_specs(specs: Sequence[str]) -> list[str]:
    """`["fast=5,10,slow=30"]` -> `["fast=5,10", "slow=30"]`: a comma starts a new pair only before `NAME=`."""
    out: list[str] = []
    for spec in specs:
        pieces: list[str] = []
        for part in spec.split(","):
            if "=" in part or not pieces:
                pieces.append(part)
            else:
                pieces[-1] += "," + part
        out += [p.strip() for p in pieces if p.strip()]
    for spec in out:
        name, sep, text = spec.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise ValueError(f"{FLAG} {spec!r}: expected NAME=VALUES, {EXAMPLE}")
    return out


def parse_values(strategy: Strategy, name: str, text: str) -> list[Any]:
    kind = strategy.param_types.get(name)
    if kind is None:
        raise ValueError(f"{strategy.name} has no parameter {name}; its parameters are {', '.join(strategy.param_types)}")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"{FLAG} {name}={text}: a range is START:STOP:STEP, e.g. {name}=5:100:5")
        start, stop, step = (coerce(strategy.name, name, part, kind) for part in parts)
        if not step > 0 or stop < start:
            raise ValueError(f"{FLAG} {name}={text}: need STEP > 0 and STOP >= START")
        count = int(np.floor((stop - start) / step + 1e-9)) + 1
        return [coerce(strategy.name, name, start + i * step, kind) for i in range(count)]
    return [coerce(strategy.name, name, part, kind) for part in text.split(",") if part != ""]


def _pairs(specs: Sequence[str]) -> dict[str, str]:
    return {name.strip(): text.strip() for name, _, text in (s.partition("=") for s in split_specs(specs))}


def parse_grid(strategy: Strategy, specs: Sequence[str]) -> dict[str, list[Any]]:
    """The strategy's default GRID with the given `NAME=VALUES` overrides."""
    grid = strategy.grid
    for name, text in _pairs(specs).items():
        grid[name] = parse_values(strategy, name, text)
    for name in strategy.param_types:
        grid.setdefault(name, [getattr(strategy.params(), name)])
    return grid


def point_text(specs: Sequence[str]) -> str:
    """`["fast=10", "slow=30"]` -> `"fast=10,slow=30"`, the form a replay spec records; a grid is refused
    (a point takes one value per parameter)."""
    pairs = _pairs(specs)
    for name, text in pairs.items():
        if ":" in text or "," in text:
            raise ValueError(f"{FLAG} {name}={text} is a grid; this command takes one value per parameter, "
                             f"e.g. {FLAG} {name}={text.replace(':', ',').split(',')[0]}")
    return ",".join(f"{name}={text}" for name, text in pairs.items())


def parse_params(strategy: Strategy, text: str | Sequence[str]) -> Any:
    """`"fast=10,slow=30"` or `["fast=10", "slow=30"]` -> a validated Params (defaults for the rest)."""
    specs = [text] if isinstance(text, str) else list(text)
    return strategy.params(_pairs([point_text(specs)]) if any(s.strip() for s in specs) else {})


def legacy_hint(text: str) -> str:
    """The one-line hint printed when the old `--params a=1,b=2` spelling is used."""
    new = " ".join(f"{FLAG} {spec}" for spec in split_specs([text]))
    return f"hint: --params {text} is spelled {new} now (the same {FLAG} as sweep and walkforward)"
