"""Merging overlapping candle batches: the newer batch wins where open times collide.

Exchanges revise candles (around outages, for instance), so a fresher fetch replaces what the cache
held for the same open time; everything else is a sorted union.
"""

from __future__ import annotations

import pandas as pd


def merge(older: pd.DataFrame, newer: pd.DataFrame) -> pd.DataFrame:
    """Sorted union of two cache frames without duplicate open times; rows of `newer` replace `older`."""
    parts = [part for part in (older[~older.index.isin(newer.index)], newer) if not part.empty]
    if not parts:
        return older.iloc[:0]
    both = pd.concat(parts).sort_index(kind="stable") if len(parts) > 1 else parts[0].sort_index(kind="stable")
    return both[~both.index.duplicated(keep="last")]
