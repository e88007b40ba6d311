"""Is a strategy causal, and is its warm-up enough? The check `gauntlet check causality` and
`gauntlet promote` run.

For sampled cut points t, row t of `signals(bars)` must equal the last row of `signals(bars[:t+1])`
(otherwise the full-history run used bars after t: look-ahead) and the last row of `signals` on the
trailing `warmup` bars (otherwise live, which only has those bars, would decide differently: warm-up too
short).

The warm-up region (bars before `warmup - 1`, where no live decision is made) is checked for look-ahead
too, at every bar: a full-history run decides there, and what it decides feeds the sweep. A backward fill
(`.bfill()`) of an indicator's leading NaNs is the classic leak, and it only shows there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.strategy.bars import Bars
from engine.strategy.contract import Strategy

_RTOL, _ATOL = 1e-9, 1e-12


@dataclass(frozen=True, slots=True)
class Violation:
    bar: int
    ts_ms: int
    column: str
    kind: str  # "look-ahead" or "warm-up too short"
    expected: Any  # row t of the full-history run
    got: Any

    def describe(self) -> str:
        return (f"{self.kind} at bar {self.bar} ({np.datetime64(self.ts_ms, 'ms')} UTC), column {self.column}: "
                f"full history says {self.expected!r}, the {'prefix' if self.kind == 'look-ahead' else 'warm-up window'} "
                f"says {self.got!r}")


def cut_points(n_bars: int, warmup: int, count: int, seed: int = 0) -> list[int]:
    """Sampled bars to check: the first decidable bar, the last bar, and `count` in between."""
    first = max(warmup - 1, 0)
    if first >= n_bars:
        raise ValueError(f"need more than {warmup} bars to check a strategy whose warm-up is {warmup}; got {n_bars}")
    rng = np.random.default_rng(seed)
    inner = rng.choice(np.arange(first, n_bars), size=min(count, n_bars - first), replace=False)
    return sorted({first, n_bars - 1, *map(int, inner)})


def check_causality(strategy: Strategy, bars: Bars, params: Any, *, cuts: int = 50, seed: int = 0) -> list[Violation]:
    """Every violation found at the sampled cut points and in the warm-up region, earliest first."""
    full = strategy.signals(bars, params).columns
    violations = _warmup_lookahead(strategy, bars, params, full)
    for t in cut_points(len(bars), params.warmup, cuts, seed):
        prefix = strategy.signals(bars[: t + 1], params).columns
        window = strategy.signals(bars[max(0, t + 1 - params.warmup): t + 1], params).columns
        for kind, partial in (("look-ahead", prefix), ("warm-up too short", window)):
            for name, column in full.items():
                if name not in partial or not _same(column[t], partial[name][-1]):
                    got = partial[name][-1] if name in partial else "(column missing)"
                    violations.append(Violation(t, int(bars.ts_ms[t]), name, kind, _plain(column[t]), _plain(got)))
    return sorted(violations, key=lambda v: (v.bar, v.kind != "look-ahead"))


def _warmup_lookahead(strategy: Strategy, bars: Bars, params: Any, full: dict[str, np.ndarray]) -> list[Violation]:
    """Look-ahead at every bar before the first decidable one: row t of the full run against the prefix."""
    found = []
    for t in range(min(max(params.warmup - 1, 0), len(bars))):
        prefix = strategy.signals(bars[: t + 1], params).columns
        for name, column in full.items():
            if name not in prefix or not _same(column[t], prefix[name][-1]):
                got = prefix[name][-1] if name in prefix else "(column missing)"
                found.append(Violation(t, int(bars.ts_ms[t]), name, "look-ahead", _plain(column[t]), _plain(got)))
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return bool(a) == bool(b)
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return bool(np.isclose(a, b, rtol=_RTOL, atol=_ATOL))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
