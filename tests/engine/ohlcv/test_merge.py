"""Merge/dedupe of overlapping fetches: properties over random overlapping batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ohlcv.merge import merge
from engine.ohlcv.schema import frame_from_arrays

STEP = 60_000


def batch(slots: list[int], tag: float) -> pd.DataFrame:
    """Candles at the given minute slots, each carrying `tag` in its volume so we can tell who won."""
    ts = np.array(sorted(set(slots)), dtype=np.int64) * STEP
    price = 100.0 + ts / STEP
    return frame_from_arrays(ts, {"open": price, "high": price + 1, "low": price - 1, "close": price,
                                  "volume": np.full(len(ts), tag)})


slots = st.lists(st.integers(0, 300), max_size=120)


@settings(max_examples=200, deadline=None)
@given(old=slots, new=slots)
def test_merge_is_the_sorted_union_and_the_newer_batch_wins(old, new):
    merged = merge(batch(old, 1.0), batch(new, 2.0))
    assert merged.index.is_monotonic_increasing and merged.index.is_unique
    assert set(merged.index.as_unit("ms").asi8 // STEP) == set(old) | set(new)
    winners = merged["volume"].to_numpy()
    expected = [2.0 if slot in set(new) else 1.0 for slot in sorted(set(old) | set(new))]
    assert winners.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(a=slots, b=slots, c=slots)
def test_merging_in_steps_equals_merging_the_latest_state(a, b, c):
    stepwise = merge(merge(batch(a, 1.0), batch(b, 2.0)), batch(c, 3.0))
    grouped = merge(batch(a, 1.0), merge(batch(b, 2.0), batch(c, 3.0)))
    pd.testing.assert_frame_equal(stepwise, grouped)


@settings(max_examples=100, deadline=None)
@given(a=slots)
def test_merging_a_batch_into_itself_changes_nothing(a):
    pd.testing.assert_frame_equal(merge(batch(a, 1.0), batch(a, 1.0)), batch(a, 1.0))
