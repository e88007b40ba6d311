"""Signals: what a strategy decides at each bar's close, aligned to the bars.

Entries and exits are booleans decided at the close of bar t; nothing here says when they fill (that is
`engine.core.costs.at_next_open`, the one place the shift happens). Shorts, per-entry size and stops are
optional columns a strategy may fill in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

_BOOL = ("entries", "exits", "short_entries", "short_exits")
_FLOAT = ("size", "sl_stop", "tp_stop")


@dataclass(frozen=True, slots=True)
class Signals:
    entries: np.ndarray  # bool: open a long at the next bar's open
    exits: np.ndarray  # bool: close the long
    short_entries: np.ndarray | None = None
    short_exits: np.ndarray | None = None
    size: np.ndarray | None = None  # fraction of equity for an entry, (0, 1]; None: all of it
    sl_stop: np.ndarray | None = None  # stop-loss distance as a fraction of the entry price (NaN: none)
    tp_stop: np.ndarray | None = None  # take-profit distance, likewise

    def __post_init__(self) -> None:
        n = len(self.entries)
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None:
                continue
            if len(value) != n:
                raise ValueError(f"signals: {spec.name} has {len(value)} rows, entries has {n}")
            if spec.name in _BOOL and value.dtype != np.bool_:
                raise ValueError(f"signals: {spec.name} must be boolean, got {value.dtype}")
            if spec.name in _FLOAT and value.dtype != np.float64:
                raise ValueError(f"signals: {spec.name} must be float64, got {value.dtype}")

    @classmethod
    def from_target(cls, long: np.ndarray) -> Signals:
        """Enter when the target turns long, exit when it turns flat."""
        before = np.r_[False, long[:-1]]
        return cls(entries=long & ~before, exits=~long & before)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The columns the strategy filled in, by name."""
        return {spec.name: getattr(self, spec.name) for spec in fields(self) if getattr(self, spec.name) is not None}

    @property
    def has_shorts(self) -> bool:
        return self.short_entries is not None

    @property
    def has_stops(self) -> bool:
        return self.sl_stop is not None or self.tp_stop is not None


# The close -> next open shift, here and nowhere else: a signal decided at the close of bar t becomes an order
# that fills at the open of bar t+1 (plus slippage). A decision on the last bar has no next bar to fill in
# and is dropped, so nothing ever acts on an in-progress candle.
def _shift(column: np.ndarray) -> np.ndarray:
    out = np.empty_like(column)
    out[0:1] = False if column.dtype == np.bool_ else np.nan
    out[1:] = column[:-1]
    return out


def at_next_open(signals: Signals) -> Signals:
    """Signals re-aligned to the bar whose open fills them: row t+1 holds the decision of bar t."""
    return replace(signals, **{name: _shift(column) for name, column in signals.columns.items()})
