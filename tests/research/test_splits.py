"""splits: hand-checked plans, the validation errors, and properties against the definitions in the module doc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from research.splits import MODES, TABLE_COLUMNS, Fold, SplitSpec, plan_folds, plan_table

HOUR_NS = 3_600_000_000_000


def hourly(n: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="h", tz="UTC")


def daily_without(first: str, last: str, *missing: tuple[str, str]) -> pd.DatetimeIndex:
    """Daily open times from `first` to `last`, less the inclusive (from, to) outages."""
    index = pd.date_range(first, last, freq="D", tz="UTC")
    for lo, hi in missing:
        index = index[(index < pd.Timestamp(lo, tz="UTC")) | (index > pd.Timestamp(hi, tz="UTC"))]
    return index


def bounds(folds: list[Fold]) -> list[tuple[int, int, int, int]]:
    return [(f.is_start, f.is_end, f.oos_start, f.oos_end) for f in folds]


def ns(size: int | str) -> int:
    return int(pd.Timedelta(size).value)


# ---------------------------------------------------------------------------------------------------------------
# Hand-checked plans

def test_small_plan_rolling_and_anchored():
    # 100 bars, 4 OOS windows of 10 tile 60..100; IS 30 ends 2 bars (the purge) before each OOS window.
    spec = dict(n_folds=4, is_size=30, oos_size=10, purge=2, embargo=3)
    rolling = plan_folds(hourly(100), SplitSpec(mode="rolling", **spec))
    anchored = plan_folds(hourly(100), SplitSpec(mode="anchored", **spec))
    assert bounds(rolling) == [(28, 58, 60, 70), (38, 68, 70, 80), (48, 78, 80, 90), (58, 88, 90, 100)]
    assert bounds(anchored) == [(0, 58, 60, 70), (0, 68, 70, 80), (0, 78, 80, 90), (0, 88, 90, 100)]
    # Embargo zones are [70,73), [80,83), [90,93): every IS that holds zone bars also holds the OOS window
    # before the zone (fold 2's IS [48,78) holds [60,70)), so nothing is clipped.
    assert [f.index for f in rolling] == [0, 1, 2, 3]
    assert rolling[2].is_first == pd.Timestamp("2024-01-03 00:00", tz="UTC")   # bar 48
    assert rolling[2].oos_last == pd.Timestamp("2024-01-04 17:00", tz="UTC")   # bar 89


def test_embargo_clips_an_is_that_starts_right_after_an_earlier_oos_window():
    # IS 8: fold 2's IS would be [70,78), starting at the end of fold 0's OOS window [60,70) without holding
    # any of it; the 3-bar embargo zone [70,73) moves its start to 73. Fold 3 likewise: [80,88) -> [83,88).
    folds = plan_folds(hourly(100), SplitSpec(n_folds=4, is_size=8, oos_size=10, purge=2, embargo=3))
    assert bounds(folds) == [(50, 58, 60, 70), (60, 68, 70, 80), (73, 78, 80, 90), (83, 88, 90, 100)]
    with pytest.raises(ValueError, match=r"^fold 2's in-sample window holds 5 bars, fewer than min_is_bars=6; "):
        plan_folds(hourly(100), SplitSpec(n_folds=4, is_size=8, oos_size=10, purge=2, embargo=3), min_is_bars=6)


def test_n_folds_alone_splits_the_bars_after_the_first_is_window_evenly():
    # 103 bars; the first OOS window can start at 32 (30 IS + 2 purge); 71 bars // 4 = 17 per window, and the
    # 3 left over stay before the first window, so the windows tile 35..103.
    folds = plan_folds(hourly(103), SplitSpec(n_folds=4, is_size=30, purge=2))
    assert bounds(folds) == [(3, 33, 35, 52), (20, 50, 52, 69), (37, 67, 69, 86), (54, 84, 86, 103)]


def test_anchored_n_folds_alone_cuts_n_folds_plus_one_parts():
    folds = plan_folds(hourly(100), SplitSpec(n_folds=4, mode="anchored", purge=2))
    assert bounds(folds) == [(0, 18, 20, 40), (0, 38, 40, 60), (0, 58, 60, 80), (0, 78, 80, 100)]


def test_oos_size_alone_makes_as_many_folds_as_fit():
    folds = plan_folds(hourly(100), SplitSpec(oos_size=10, is_size=30, purge=2))
    assert [f.oos_start for f in folds] == [40, 50, 60, 70, 80, 90]  # a 7th needs IS [-2, 28)
    assert folds[0].is_start == 8
    anchored = plan_folds(hourly(100), SplitSpec(oos_size=10, mode="anchored"))  # first IS: one OOS window
    assert bounds(anchored)[0] == (0, 10, 10, 20) and len(anchored) == 9


def test_time_sizes_cover_calendar_days_across_a_gap():
    # Daily bars 2024-01-01 .. 03-10 with 02-10 .. 02-19 missing: 60 bars; Jan 31 is bar 30, Feb 9 bar 39,
    # Feb 20 bar 40. The 20D OOS windows are (Feb 19, Mar 10] (20 bars) and (Jan 30, Feb 19] (10 bars: the
    # outage is inside it). Fold 0: purge Jan 29-30, IS [Jan 9, Jan 29). Fold 1: the 2D purge before Feb 20
    # falls in the outage (no bar removed), IS [Jan 29, Feb 18) = Jan 29 .. Feb 9, which holds fold 0's OOS
    # window (that is walk-forward); the 1D embargo after Feb 9 holds no bars.
    index = daily_without("2024-01-01", "2024-03-10", ("2024-02-10", "2024-02-19"))
    folds = plan_folds(index, SplitSpec(n_folds=2, is_size="20D", oos_size="20D", purge="2D", embargo="1D"))
    assert bounds(folds) == [(8, 28, 30, 40), (28, 40, 40, 60)]
    table = plan_table(folds)
    assert table["is_bars"].tolist() == [20, 12] and table["purge_bars"].tolist() == [2, 0]
    assert table["oos_bars"].tolist() == [10, 20]
    assert table.loc[1, "oos_first"] == pd.Timestamp("2024-02-20", tz="UTC")
    assert table.loc[0, "is_last"] == pd.Timestamp("2024-01-28", tz="UTC")


def test_plan_table_has_one_row_per_fold_with_the_counts():
    folds = plan_folds(hourly(100), SplitSpec(n_folds=4, is_size=8, oos_size=10, purge=2, embargo=3))
    table = plan_table(folds)
    assert list(table.columns) == TABLE_COLUMNS
    assert table["fold"].tolist() == [0, 1, 2, 3]
    assert table["is_bars"].tolist() == [8, 8, 5, 5]
    assert table["purge_bars"].tolist() == [2, 2, 2, 2]
    assert table["oos_bars"].tolist() == [10, 10, 10, 10]
    assert str(table["is_first"].dtype).endswith("UTC]")
    assert plan_table([]).columns.tolist() == TABLE_COLUMNS


def test_a_naive_index_is_taken_as_utc():
    folds = plan_folds(pd.date_range("2024-01-01", periods=50, freq="h"), SplitSpec(n_folds=2, is_size=10))
    assert folds[0].is_first.tz is not None and str(folds[0].is_first.tz) == "UTC"


# ---------------------------------------------------------------------------------------------------------------
# Errors: one sentence that says what to change

@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(n_folds=3, is_size=10, mode="expanding"), r"^mode must be 'rolling' or 'anchored', got 'expanding'$"),
    (dict(n_folds=3, is_size=10, purge=-1), r"^purge must be zero or more, got -1$"),
    (dict(n_folds=3, is_size=10, embargo="-2h"), r"^embargo must be zero or more, got '-2h'$"),
    (dict(n_folds=3, is_size=0), r"^is_size must be more than zero, got 0$"),
    (dict(n_folds=3, is_size=10, oos_size="1M"), r"^oos_size='1M' is not a duration pandas understands"),
    (dict(n_folds=3, is_size=10.5), r"^is_size must be a bar count \(int\) or a duration string"),
    (dict(n_folds=0, is_size=10), r"^n_folds must be a positive int or None, got 0$"),
    (dict(is_size=10), r"^give n_folds, oos_size or both"),
    (dict(n_folds=3), r"^rolling mode needs is_size"),
])
def test_spec_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SplitSpec(**kwargs)


def test_too_few_bars_says_how_many_are_needed():
    spec = SplitSpec(n_folds=4, is_size=30, oos_size=20, purge=2)
    with pytest.raises(ValueError) as err:
        plan_folds(hourly(100), spec)
    assert str(err.value) == ("need at least 112 bars for 4 folds of 20 OOS bars after a 30-bar in-sample "
                              "window and a 2-bar purge; the data has 100")
    plan_folds(hourly(112), spec)  # exactly enough
    with pytest.raises(ValueError, match=r"^need at least 6 bars for 1 fold of 5 OOS bars after a 1-bar"):
        plan_folds(hourly(5), SplitSpec(oos_size=5, is_size=1))


def test_too_short_by_time_names_the_data_span():
    with pytest.raises(ValueError, match=r"^the data \(100 bars, 2024-01-01 00:00:00\+00:00 to .*\) is too short "
                                         r"for 5 folds of 30D OOS after a 90D in-sample window; give more data"):
        plan_folds(hourly(100), SplitSpec(n_folds=5, is_size="90D", oos_size="30D"))


@pytest.mark.parametrize(("index", "message"), [
    (hourly(50)[::-1], r"^the index is not in time order; sort the bars"),
    (hourly(50).append(hourly(1)).sort_values(), r"^the index has duplicate open times; drop the duplicates"),
    (hourly(0), r"^the index is empty"),
])
def test_index_validation(index, message):
    with pytest.raises(ValueError, match=message):
        plan_folds(index, SplitSpec(n_folds=2, is_size=10))


def test_an_oos_window_inside_an_outage_is_refused():
    index = daily_without("2024-01-01", "2024-03-10", ("2024-02-01", "2024-02-19"))
    with pytest.raises(ValueError, match=r"^fold 0's OOS window holds no bars because the data has a gap after "
                                         r"2024-01-31 00:00:00\+00:00; use a longer oos_size or fewer folds$"):
        plan_folds(index, SplitSpec(n_folds=5, is_size="5D", oos_size="5D"))


def test_an_is_window_inside_an_outage_is_refused():
    index = daily_without("2024-01-01", "2024-03-10", ("2024-02-01", "2024-02-19"))
    with pytest.raises(ValueError, match=r"^fold 0's in-sample window holds 0 bars, fewer than min_is_bars=1"):
        plan_folds(index, SplitSpec(n_folds=1, is_size="10D", oos_size="20D"))


def test_other_arguments():
    with pytest.raises(TypeError, match="DatetimeIndex"):
        plan_folds(pd.RangeIndex(10), SplitSpec(n_folds=2, is_size=3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^min_is_bars must be a positive int, got 0$"):
        plan_folds(hourly(50), SplitSpec(n_folds=2, is_size=10), min_is_bars=0)


# ---------------------------------------------------------------------------------------------------------------
# Properties, checked against the definitions in the module docstring

def purge_start(ts: np.ndarray, oos_start: int, purge: int | str) -> int:
    """Where the purge gap before an OOS window begins (= where the IS ends)."""
    if isinstance(purge, int):
        return oos_start - purge
    return int(np.count_nonzero(ts < ts[oos_start] - ns(purge)))


def embargo_zone(ts: np.ndarray, oos_end: int, embargo: int | str) -> range:
    if isinstance(embargo, int):
        return range(oos_end, min(oos_end + embargo, len(ts)))
    last = ts[oos_end - 1]
    return range(oos_end, oos_end + int(np.count_nonzero((ts > last) & (ts <= last + ns(embargo)))))


def expected_is_start(ts: np.ndarray, spec: SplitSpec, folds: list[Fold], k: int) -> int:
    """The rolling IS start by the definition, then pushed out of earlier embargo zones (slow reference)."""
    fold = folds[k]
    if spec.mode == "anchored":
        return 0
    if isinstance(spec.is_size, int):
        start = fold.is_end - spec.is_size
    else:
        edge = ts[fold.oos_start] - ns(spec.purge) if isinstance(spec.purge, str) else ts[fold.is_end]
        start = int(np.count_nonzero(ts < edge - ns(spec.is_size)))
    moved = True
    while moved:
        moved = False
        for earlier in folds[:k]:
            zone = embargo_zone(ts, earlier.oos_end, spec.embargo)
            if start in zone:
                start, moved = zone.stop, True
    return start


def check_plan(index: pd.DatetimeIndex, spec: SplitSpec, folds: list[Fold], min_is_bars: int) -> None:
    ts, n = index.as_unit("ns").asi8, len(index)
    assert folds and folds[-1].oos_end == n
    assert spec.n_folds is None or len(folds) == spec.n_folds
    for k, fold in enumerate(folds):
        assert fold.index == k and 0 <= fold.is_start < fold.is_end <= fold.oos_start < fold.oos_end <= n
        assert fold.is_bars >= min_is_bars
        if k:  # consecutive, ordered, disjoint
            assert folds[k - 1].oos_end == fold.oos_start
        # no OOS bar is ever in-sample: not this fold's, not any later fold's
        for later in folds[k:]:
            assert fold.is_end <= later.oos_start
        # the purge: exactly the bars the definition removes, and the gap is at least `purge`
        assert fold.is_end == purge_start(ts, fold.oos_start, spec.purge)
        if isinstance(spec.purge, int):
            assert fold.oos_start - fold.is_end >= spec.purge
        else:
            assert ts[fold.oos_start] - ts[fold.is_end - 1] > ns(spec.purge)
        # the embargo rule: an IS holding a bar of the zone after an earlier OOS window holds a bar of that window
        for earlier in folds[:k]:
            zone = embargo_zone(ts, earlier.oos_end, spec.embargo)
            if fold.is_start < zone.stop and zone.start < fold.is_end and len(zone):
                assert fold.is_start < earlier.oos_end
        assert fold.is_start == expected_is_start(ts, spec, folds, k)
        if isinstance(spec.oos_size, str):  # window m from the end: open times in (T - mD, T - (m-1)D]
            m, size = len(folds) - k, ns(spec.oos_size)
            inside = (ts > ts[-1] - m * size) & (ts <= ts[-1] - (m - 1) * size)
            assert np.flatnonzero(inside).tolist() == list(range(fold.oos_start, fold.oos_end))
        elif spec.oos_size is not None:
            assert fold.oos_bars == spec.oos_size


def gappy_index(draw: st.DrawFn) -> pd.DatetimeIndex:
    """Hourly bars with random outages of 2..72 hours."""
    n = draw(st.integers(30, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gap_rate = draw(st.sampled_from([0.0, 0.02, 0.1]))
    steps = np.where(rng.random(n - 1) < gap_rate, rng.integers(2, 73, n - 1), 1)
    ts = pd.Timestamp("2024-01-01", tz="UTC").value + HOUR_NS * np.r_[0, np.cumsum(steps)]
    return pd.DatetimeIndex(ts.astype("datetime64[ns]")).tz_localize("UTC")


def size(low: int, high: int) -> st.SearchStrategy[int | str]:
    return st.one_of(st.integers(low, high), st.integers(max(low, 1), high).map(lambda h: f"{h}h"))


@st.composite
def plans(draw: st.DrawFn) -> tuple[pd.DatetimeIndex, SplitSpec, int]:
    mode = draw(st.sampled_from(MODES))
    how = draw(st.sampled_from(["both", "n_folds", "oos_size"]))
    n_folds = draw(st.integers(1, 6)) if how != "oos_size" else None
    oos = draw(size(1, 40)) if how != "n_folds" else None
    is_size = draw(size(1, 120) if mode == "rolling" else st.one_of(st.none(), size(1, 120)))
    spec = SplitSpec(n_folds=n_folds, mode=mode, is_size=is_size, oos_size=oos,
                     purge=draw(size(0, 8)), embargo=draw(size(0, 20)))
    return gappy_index(draw), spec, draw(st.sampled_from([1, 1, 5]))


@settings(max_examples=400, deadline=None)
@given(plan=plans())
def test_no_oos_bar_is_ever_seen_in_sample(plan):
    index, spec, min_is_bars = plan
    note(f"{spec} on {len(index)} bars")
    try:
        folds = plan_folds(index, spec, min_is_bars)
    except ValueError as exc:  # a refusal must still be one line that says what to change
        event("refused")
        assert "\n" not in str(exc) and ";" in str(exc)
        return
    event("planned")
    check_plan(index, spec, folds, min_is_bars)
    table = plan_table(folds)
    assert len(table) == len(folds) and table["fold"].tolist() == list(range(len(folds)))
    assert (table["is_bars"] + table["purge_bars"] + table["oos_bars"]).tolist() == \
        [f.oos_end - f.is_start for f in folds]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 300), is_size=st.integers(1, 80), oos=st.integers(1, 30), purge=st.integers(0, 8),
       embargo=st.integers(0, 20), n_folds=st.integers(1, 8), mode=st.sampled_from(MODES))
def test_bar_sizes_fit_exactly_when_the_arithmetic_says_so(n, is_size, oos, purge, embargo, n_folds, mode):
    index, need = hourly(n), is_size + purge + n_folds * oos
    spec = SplitSpec(n_folds=n_folds, mode=mode, is_size=is_size, oos_size=oos, purge=purge, embargo=embargo)
    if n < need:
        with pytest.raises(ValueError, match=rf"^need at least {need} bars "):
            plan_folds(index, spec)
        return
    try:
        folds = plan_folds(index, spec)
    except ValueError as exc:  # only an embargo as long as the IS or OOS windows can empty a clipped IS
        assert embargo >= min(is_size, oos) and mode == "rolling", exc
        assert str(exc).startswith("fold ") and "fewer than min_is_bars=1" in str(exc)
        return
    check_plan(index, spec, folds, 1)
    lengths = [f.is_bars for f in folds]
    if mode == "anchored":
        assert [f.is_start for f in folds] == [0] * n_folds and lengths == sorted(lengths)
    elif embargo == 0:
        assert lengths == [is_size] * n_folds
    elif embargo < oos:  # clipping costs at most the embargo
        assert all(is_size - embargo <= length <= is_size for length in lengths)
    grown = SplitSpec(oos_size=oos, mode=mode, is_size=is_size, purge=purge)
    assert len(plan_folds(index, grown)) == (n - is_size - purge) // oos  # as many as fit


@settings(max_examples=100, deadline=None)
@given(n=st.integers(20, 300), is_size=st.integers(1, 80), oos=st.integers(1, 30), purge=st.integers(0, 8),
       embargo=st.integers(0, 20), n_folds=st.one_of(st.none(), st.integers(1, 6)), mode=st.sampled_from(MODES))
def test_durations_of_whole_bars_plan_what_bar_counts_plan(n, is_size, oos, purge, embargo, n_folds, mode):
    def plan(to: type) -> list[tuple[int, int, int, int]] | str:
        as_size = (lambda k: k) if to is int else (lambda k: f"{k}h")
        spec = SplitSpec(n_folds=n_folds, mode=mode, is_size=as_size(is_size), oos_size=as_size(oos),
                         purge=as_size(purge), embargo=as_size(embargo))
        try:
            return bounds(plan_folds(hourly(n), spec))
        except ValueError:
            return "refused"
    assert plan(int) == plan(str)
