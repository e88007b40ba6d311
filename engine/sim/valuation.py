"""Marking to market in one pass. Replay records the books (cash and base held) as they stand after each
bar it visits; every bar's value then follows from those records and the closes, without touching the
idle bars one stretch at a time. A short's borrow interest accrues on each bar's close."""

from __future__ import annotations

import numpy as np


def closes_before(close: np.ndarray) -> np.ndarray:
    """Prefix sums: element t is the sum of the closes of bars [0, t), so a stretch's sum is a difference."""
    return np.concatenate(([0.0], np.cumsum(close)))


def value_bars(starts: np.ndarray, cash: np.ndarray, qty: np.ndarray, close: np.ndarray, lo: int, hi: int,
               borrow_per_bar: float = 0.0, prefix: np.ndarray | None = None,
               accrues_from: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(equity, position) of bars [lo, hi), where record k says the books were (cash[k], qty[k]) from bar
    starts[k] on (starts ascending, starts[0] <= lo; a later record for the same bar wins). A short pays
    `borrow_per_bar` of each bar's close per unit held, out of `cash[k]`, counted from the close of bar
    `accrues_from[k]` (default `starts[k]`): a record may carry the cash a short's interest is counted from,
    so every record of one short values its bars alike."""
    ends = np.append(starts[1:], hi)
    lengths = np.clip(ends - np.maximum(starts, lo), 0, None)
    held = np.repeat(qty, lengths)
    equity = np.repeat(cash, lengths) + held * close[lo:hi]
    if borrow_per_bar:
        owed = np.repeat(np.where(qty < 0, -qty * borrow_per_bar, 0.0), lengths)
        origin = starts if accrues_from is None else accrues_from
        equity -= owed * (prefix[lo + 1:hi + 1] - np.repeat(prefix[origin], lengths))
    return equity, held
