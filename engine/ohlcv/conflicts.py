"""Rows that would change candles the cache already holds: found before a write, refused unless replacing.

A cached closed candle is a fact. New rows for the same open time with the same values are harmless
(re-importing a file, re-fetching a range); different values mean the source is wrong (a price of 1e12,
a file shifted by a time zone) or the exchange revised history. Either way the user decides: a write
refuses with this report, and `--replace` accepts the new values and records what it replaced.
Values are compared exactly: the same candle parsed from the same source is bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.ohlcv.quality import fmt_ts
from engine.ohlcv.schema import VALUE_COLUMNS, ts_ms_of

_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Difference:
    """One differing candle: its open time and the old and new (open, high, low, close, volume)."""

    ts_ms: int
    old: tuple[float, ...]
    new: tuple[float, ...]

    def describe(self) -> str:
        changed = [f"{name} {o:g} -> {n:g}" for name, o, n in zip(VALUE_COLUMNS, self.old, self.new, strict=True)
                   if not (o == n or (np.isnan(o) and np.isnan(n)))]
        return f"{fmt_ts(self.ts_ms)}: {', '.join(changed)}"


@dataclass(frozen=True, slots=True)
class Conflicts:
    """How many cached candles the new rows would change, over which span, and the first few."""

    rows: int
    first_ms: int
    last_ms: int
    examples: tuple[Difference, ...]

    def describe(self) -> str:
        span = fmt_ts(self.first_ms) if self.first_ms == self.last_ms else f"{fmt_ts(self.first_ms)} → {fmt_ts(self.last_ms)}"
        lines = [f"{self.rows:,} cached candle(s) would change ({span}); old -> new:"]
        lines += [f"  {example.describe()}" for example in self.examples]
        if self.rows > len(self.examples):
            lines.append(f"  ... and {self.rows - len(self.examples):,} more")
        return "\n".join(lines)

    def to_record(self) -> dict:
        """What the manifest keeps about a replacement (JSON-ready)."""
        return {"rows": self.rows, "first_ms": self.first_ms, "last_ms": self.last_ms,
                "examples": [{"ts_ms": e.ts_ms, "old": list(e.old), "new": list(e.new)} for e in self.examples]}

    @classmethod
    def from_record(cls, record: dict) -> Conflicts:
        examples = tuple(Difference(int(e["ts_ms"]), tuple(e["old"]), tuple(e["new"])) for e in record["examples"])
        return cls(int(record["rows"]), int(record["first_ms"]), int(record["last_ms"]), examples)

    def __add__(self, other: Conflicts) -> Conflicts:
        return Conflicts(self.rows + other.rows, min(self.first_ms, other.first_ms), max(self.last_ms, other.last_ms),
                         (*self.examples, *other.examples)[:_EXAMPLES])


class ConflictError(ValueError):
    """New rows disagree with cached candles; nothing was written."""

    def __init__(self, where: str, conflicts: Conflicts, hint: str) -> None:
        self.conflicts = conflicts
        super().__init__(f"{where}: refused, nothing written: {conflicts.describe()}\n  {hint}")


def find_conflicts(cached: pd.DataFrame, incoming: pd.DataFrame) -> Conflicts | None:
    """Candles present in both frames (same open time) whose values differ; None when they all agree."""
    shared = cached.index.intersection(incoming.index)
    if shared.empty:
        return None
    old = cached.loc[shared, list(VALUE_COLUMNS)].to_numpy()
    new = incoming.loc[shared, list(VALUE_COLUMNS)].to_numpy()
    differs = ((old != new) & ~(np.isnan(old) & np.isnan(new))).any(axis=1)
    rows = np.flatnonzero(differs)
    if not len(rows):
        return None
    ts = ts_ms_of(incoming.loc[shared])
    examples = tuple(Difference(int(ts[r]), tuple(map(float, old[r])), tuple(map(float, new[r]))) for r in rows[:_EXAMPLES])
    return Conflicts(len(rows), int(ts[rows[0]]), int(ts[rows[-1]]), examples)
