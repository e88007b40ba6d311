"""The trailing candles a deployment's strategy decides on, and the running sums its books are valued with.

`Window` keeps the last `size` closed candles as a `Bars` (the strategy's input: its `warmup` bars, which the
strategy contract proves decide the last row as the whole history would). `Marks` values the loop's books at
a candle's close exactly as replay does (`engine.sim.valuation.value_bars` on the loop's last record): a short's
borrow interest counts on the sum of the closes since its position last changed, so the sums of the closes
before each bar the books may still need are kept, and no others.
"""

from __future__ import annotations

import numpy as np

from engine.core.loop import Loop
from engine.core.matching import Candle
from engine.strategy.bars import Bars

__all__ = ["Marks", "Window"]

_COLUMNS = 6  # ts_ms, open, high, low, close, volume


class Window:
    """The last `size` closed candles, oldest first."""

    def __init__(self, size: int) -> None:
        self.size = max(int(size), 1)
        self.rows = np.empty((0, _COLUMNS), dtype=np.float64)

    def __len__(self) -> int:
        return len(self.rows)

    def fill(self, bars: Bars) -> None:
        """Start from the last `size` of `bars` (the cache's candles before the first one traded)."""
        tail = bars[max(0, len(bars) - self.size):]
        self.rows = np.column_stack([tail.ts_ms.astype(np.float64), tail.open, tail.high, tail.low, tail.close,
                                     tail.volume]) if len(tail) else np.empty((0, _COLUMNS), dtype=np.float64)

    def push(self, candle: Candle) -> None:
        row = np.array([[float(candle.ts_ms), candle.open, candle.high, candle.low, candle.close, candle.volume]])
        self.rows = np.concatenate((self.rows[len(self.rows) + 1 - self.size:] if len(self.rows) >= self.size
                                    else self.rows, row))

    @property
    def last_ms(self) -> int | None:
        return int(self.rows[-1, 0]) if len(self.rows) else None

    def bars(self) -> Bars:
        rows = self.rows
        return Bars(rows[:, 0].astype(np.int64), *(np.ascontiguousarray(rows[:, i]) for i in range(1, _COLUMNS)))


class Marks:
    """The sums of the closes before bar k (replay's `closes_before`), for the bars the books may still read."""

    def __init__(self, sums: dict[int, float] | None = None) -> None:
        self.sums = dict(sums) if sums is not None else {0: 0.0}

    def closed(self, t: int, close: float, loop: Loop) -> None:
        """Bar t closed at `close`; forget the sums no record of the loop can need any more."""
        if loop.borrows:
            self.sums[t + 1] = self.sums[t] + close
            keep = {t + 1, loop.record_from[-1]}
            self.sums = {k: v for k, v in self.sums.items() if k in keep}

    def value(self, loop: Loop, t: int, close: float) -> float:
        """The books' value at the close of bar t, from the loop's last record (its bar is t or before)."""
        cash, qty = loop.record_cash[-1], loop.record_qty[-1]
        equity = cash + qty * close
        if loop.borrows:
            owed = -qty * loop.borrow_per_bar if qty < 0 else 0.0
            equity -= owed * (self.sums[t + 1] - self.sums[loop.record_from[-1]])
        return equity

    def state(self) -> dict[str, float]:
        return {str(k): v for k, v in self.sums.items()}

    @classmethod
    def from_state(cls, state: dict[str, float]) -> Marks:
        return cls({int(k): v for k, v in state.items()})
