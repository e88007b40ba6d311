"""The walk-forward split plan: which bars each fold fits on (in-sample, IS) and trades blind (out-of-sample, OOS).

A fold is four bar positions, half-open: IS = [is_start, is_end), OOS = [oos_start, oos_end). Timestamps on
a `Fold` are for display only; everything downstream slices by position.

Layout
    The OOS windows are consecutive and tile the end of the data: the last one ends at the last bar, none
    overlap, fold 0 is the earliest. Fold k fits on the bars right before its OOS window, less a purge gap:
      rolling   IS = the `is_size` right before the purge gap (the same length in every fold, bar sizes);
      anchored  IS = every bar from the first up to the purge gap. `is_size` is then the first fold's IS
                length; None means one OOS window, so `n_folds` alone cuts the data into n_folds + 1 equal
                parts, the first of which is fold 0's IS and purge (as scikit-learn's TimeSeriesSplit does).
    A later fold's IS therefore holds earlier folds' OOS bars: that is walk-forward (re-fit on what is known).

How many folds
    n_folds and oos_size: used as given, or ValueError if they do not fit. n_folds only: the bars after the
    first full IS window and its purge are cut into n_folds equal OOS windows (the remainder, fewer than
    n_folds bars, stays before the first). oos_size only: as many folds as have a full IS window.

Sizes and gaps
    An int counts bars. A string is a pandas duration ("90D", "12h") measured on the open times, so gaps in
    the data are respected: a "30D" window holds the bars that open within 30 calendar days, however many.
    Exactly, with T the last open time:
      OOS window m from the end (m = 1, 2, ...)   open times in (T - m*D, T - (m-1)*D]
      purge before an OOS window opening at t      open times in [t - P, t)
      rolling IS ending at instant b               open times in [b - D, b)   (b: where the purge begins)
      embargo after an OOS window whose last bar opens at u: open times in (u, u + E]
    On evenly spaced bars a duration of k bar lengths selects exactly what the int k selects.

Purge (against label leakage)
    What an IS bar teaches the fit reaches forward: the exit of a position opened on it, a forward return,
    an indicator labelled on future bars. An IS bar whose reach ends inside the OOS window lets the fit see
    OOS prices, so the `purge` bars (or time) before each OOS window are in no fold's IS for that window.
    Guarantee: oos_start - is_end >= purge (bars), or oos_first - (last IS open time) > purge (time).

Embargo
    López de Prado's embargo drops *training* bars right after a test window: their look-back features and
    serially correlated returns echo the test window. A walk-forward fold never fits on bars after its own
    OOS window, so that case cannot arise here (nor for the next fold, whose IS ends before the zone); what
    remains is a later fold k and an earlier OOS window j whose result has been reported and used to select.
    An IS that holds bars of window j has seen it: the plan shows the overlap and that is walk-forward. An
    IS that starts just after window j has not, yet it fits on bars that echo it, so fold k's result would
    depend on fold j's without the plan showing it. The rule: no IS window starts inside an embargo zone
    [oos_end_j, oos_end_j + embargo) of an earlier fold; such an IS is clipped to start where the zone ends
    and stays contiguous (it loses at most `embargo` bars while the embargo is shorter than the OOS windows;
    a longer one can push it through several zones). Equivalently: an IS that holds a bar of the zone after
    window j also holds a bar of window j. Anchored IS windows start at bar 0 and are never clipped.
    (Removing every zone from every later IS would split the IS into pieces or, kept contiguous, shrink
    every fold from the third on to less than one OOS window and un-anchor anchored mode.)

An index without a time zone is taken as UTC; it must be strictly increasing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MODES", "TABLE_COLUMNS", "Fold", "SplitSpec", "plan_folds", "plan_table"]

MODES = ("rolling", "anchored")
TABLE_COLUMNS = ["fold", "is_first", "is_last", "is_bars", "purge_bars", "oos_first", "oos_last", "oos_bars"]


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward split as half-open bar positions, with the inclusive open times for display."""

    index: int
    is_start: int
    is_end: int
    oos_start: int
    oos_end: int
    is_first: pd.Timestamp
    is_last: pd.Timestamp
    oos_first: pd.Timestamp
    oos_last: pd.Timestamp

    def __post_init__(self) -> None:
        if not 0 <= self.is_start < self.is_end <= self.oos_start < self.oos_end:
            raise ValueError(f"fold {self.index} needs 0 <= is_start < is_end <= oos_start < oos_end, got "
                             f"{self.is_start}, {self.is_end}, {self.oos_start}, {self.oos_end}")

    @property
    def is_bars(self) -> int:
        return self.is_end - self.is_start

    @property
    def purge_bars(self) -> int:
        return self.oos_start - self.is_end

    @property
    def oos_bars(self) -> int:
        return self.oos_end - self.oos_start


@dataclass(frozen=True, slots=True)
class SplitSpec:
    """How to cut a series into folds; sizes are bars (int) or pandas durations ("30D"). See the module doc."""

    n_folds: int | None = None
    mode: str = "rolling"
    is_size: int | str | None = None
    oos_size: int | str | None = None
    purge: int | str = 0
    embargo: int | str = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'rolling' or 'anchored', got {self.mode!r}")
        if self.n_folds is not None and (not _is_int(self.n_folds) or self.n_folds < 1):
            raise ValueError(f"n_folds must be a positive int or None, got {self.n_folds!r}")
        if self.n_folds is None and self.oos_size is None:
            raise ValueError("give n_folds, oos_size or both, so the plan knows how many OOS windows to make")
        if self.mode == "rolling" and self.is_size is None:
            raise ValueError("rolling mode needs is_size (bars or a duration such as '90D'); or use mode='anchored'")
        _spans(self)  # parse once here so a bad size fails when the spec is made


@dataclass(frozen=True, slots=True)
class _Span:
    """A parsed size or gap: `amount` bars, or `amount` nanoseconds when `by_time`; `text` as the user wrote it."""

    amount: int
    by_time: bool
    text: str

    def label(self) -> str:
        return self.text if self.by_time else f"{self.amount}-bar"


@dataclass(frozen=True, slots=True)
class _Edge:
    """A cut between bars: the bars at positions < pos, which open before the instant `at` (ns), lie before it."""

    pos: int
    at: int


@dataclass(frozen=True, slots=True)
class _Plan:
    """The spec parsed against one index: open times as int64 ns plus the spans."""

    ts: np.ndarray
    mode: str
    n_folds: int | None
    is_span: _Span | None
    oos: _Span | None
    purge: _Span
    embargo: _Span

    @property
    def n(self) -> int:
        return len(self.ts)

    def inside(self, edge: _Edge) -> bool:
        return edge.pos >= 0 and edge.at >= self.ts[0]


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _span(name: str, value: object, *, zero_ok: bool) -> _Span:
    """Parse one size or gap; negative gaps, empty windows and month-like units are refused."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        amount, by_time = int(value), False
    elif isinstance(value, str):
        try:
            amount, by_time = int(pd.Timedelta(value).value), True
        except ValueError as exc:
            raise ValueError(f"{name}={value!r} is not a duration pandas understands ({exc}); "
                             "use e.g. '30D', '12h' or a bar count") from None
    else:
        raise ValueError(f"{name} must be a bar count (int) or a duration string such as '30D', got {value!r}")
    if amount < 0 or (amount == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'zero or more' if zero_ok else 'more than zero'}, got {value!r}")
    return _Span(amount, by_time, str(value))


def _spans(spec: SplitSpec) -> tuple[_Span | None, _Span | None, _Span, _Span]:
    """(is, oos, purge, embargo); anchored without is_size takes the OOS size as the first IS length."""
    oos = None if spec.oos_size is None else _span("oos_size", spec.oos_size, zero_ok=False)
    is_span = None if spec.is_size is None else _span("is_size", spec.is_size, zero_ok=False)
    purge = _span("purge", spec.purge, zero_ok=True)
    embargo = _span("embargo", spec.embargo, zero_ok=True)
    return (is_span if is_span is not None else oos), oos, purge, embargo


def _open_times(index: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The index in UTC and its open times as int64 nanoseconds, after checking it can be planned on."""
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"plan_folds needs a pandas DatetimeIndex, got {type(index).__name__}")
    if index.hasnans:
        raise ValueError("the index has missing timestamps (NaT); drop those bars first")
    if not index.is_monotonic_increasing:
        raise ValueError("the index is not in time order; sort the bars by open time first")
    if not index.is_unique:
        raise ValueError("the index has duplicate open times; drop the duplicates first")
    utc = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return utc, utc.as_unit("ns").asi8


def _step_back(plan: _Plan, edge: _Edge, span: _Span) -> _Edge:
    """The edge `span` before `edge`: that many bars earlier, or that much time earlier (first bar at/after it).

    An edge already before the data stays where it is: it can only move further out, and it never fits.
    """
    if not plan.inside(edge):
        return edge
    if not span.by_time:
        pos = edge.pos - span.amount
        return _Edge(pos, int(plan.ts[pos]) if pos >= 0 else edge.at - 1)
    at = edge.at - span.amount
    return _Edge(int(np.searchsorted(plan.ts, max(at, int(plan.ts[0])), "left")), at)


def _is_window(plan: _Plan, oos_start: int) -> tuple[int, int, bool]:
    """(is_start, is_end, fits) before an OOS window starting at `oos_start`, before any embargo clipping.

    `fits` says the full `is_size` lies inside the data (for anchored mode: the first fold's minimum).
    """
    purged = _step_back(plan, _Edge(oos_start, int(plan.ts[oos_start])), plan.purge)
    if plan.is_span is None:  # anchored, n_folds only: the even split decides, min_is_bars checks
        return 0, max(purged.pos, 0), plan.inside(purged)
    first = _step_back(plan, purged, plan.is_span)
    start = 0 if plan.mode == "anchored" else max(first.pos, 0)
    return start, max(purged.pos, 0), plan.inside(first)


def _fits(plan: _Plan, oos_start: int) -> bool:
    return 0 <= oos_start < plan.n and _is_window(plan, oos_start)[2]


def _describe(plan: _Plan, n_folds: int) -> str:
    """E.g. '4 folds of 10 OOS bars after a 30-bar in-sample window and a 2-bar purge'."""
    text = f"{n_folds} fold{'' if n_folds == 1 else 's'}"
    if plan.oos is not None:
        text += f" of {plan.oos.amount} OOS bars" if not plan.oos.by_time else f" of {plan.oos.text} OOS"
    if plan.is_span is not None:
        text += f" after a {plan.is_span.label()} in-sample window"
    if plan.purge.amount:
        text += f" and a {plan.purge.label()} purge"
    return text


def _too_short(plan: _Plan, n_folds: int) -> ValueError:
    """The 'not enough data' error: an exact bar count when every size is in bars, else the data's span."""
    spans = [s for s in (plan.is_span, plan.oos, plan.purge) if s is not None]
    if not any(s.by_time for s in spans):
        oos_bars = plan.oos.amount if plan.oos is not None else 1
        first = plan.is_span.amount if plan.is_span is not None else oos_bars
        need = first + plan.purge.amount + n_folds * oos_bars
        return ValueError(f"need at least {need} bars for {_describe(plan, n_folds)}; the data has {plan.n}")
    first, last = (pd.Timestamp(int(t), tz="UTC") for t in (plan.ts[0], plan.ts[-1]))
    return ValueError(f"the data ({plan.n} bars, {first} to {last}) is too short for {_describe(plan, n_folds)}; "
                      "give more data, fewer folds or smaller sizes")


def _window_start(plan: _Plan, m: int, end: int) -> int:
    """Start of the m-th OOS window from the end, which ends at `end` (calendar tiling for durations)."""
    assert plan.oos is not None
    if not plan.oos.by_time:
        return end - plan.oos.amount
    cut = int(plan.ts[-1]) - m * plan.oos.amount
    return int(np.searchsorted(plan.ts, max(cut, int(plan.ts[0]) - 1), "right"))


def _windows_from_end(plan: _Plan) -> list[tuple[int, int]]:
    """`oos_size` windows counted back from the last bar: n_folds of them, or as many as have a full IS."""
    windows: list[tuple[int, int]] = []
    end = plan.n
    while plan.n_folds is None or len(windows) < plan.n_folds:
        start = _window_start(plan, len(windows) + 1, end)
        if not _fits(plan, start):
            if plan.n_folds is not None or not windows:
                raise _too_short(plan, plan.n_folds or 1)
            break
        windows.append((start, end))
        end = start
    return windows[::-1]


def _even_windows(plan: _Plan) -> list[tuple[int, int]]:
    """n_folds equal OOS windows (in bars) after the first full IS window, ending at the last bar."""
    k = plan.n_folds
    assert k is not None
    if plan.is_span is None:  # anchored without sizes: n_folds + 1 equal parts
        size = plan.n // (k + 1)
    else:
        if not _fits(plan, plan.n - k):
            raise _too_short(plan, k)
        lo, hi = 0, plan.n - k  # the earliest OOS start with a full IS window: fits() only turns on once
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _fits(plan, mid) else (mid + 1, hi)
        size = (plan.n - lo) // k
    if size == 0:
        raise _too_short(plan, k)
    first = plan.n - k * size
    return [(first + i * size, first + (i + 1) * size) for i in range(k)]


def _embargo_ends(plan: _Plan, oos_ends: np.ndarray) -> np.ndarray:
    """End (exclusive) of the embargo zone right after each OOS window; non-decreasing like the windows."""
    if not plan.embargo.by_time:
        return np.minimum(oos_ends + plan.embargo.amount, plan.n)
    return np.searchsorted(plan.ts, plan.ts[oos_ends - 1] + plan.embargo.amount, "right").astype(np.int64)


def _clip_embargo(is_start: int, oos_ends: np.ndarray, zone_ends: np.ndarray) -> int:
    """Move an IS start out of the embargo zones of the given (earlier) OOS windows, to where a zone ends.

    Zone ends never decrease, so a start lies in some zone exactly when it lies in the zone of the last
    window that ended at or before it; zones longer than the next OOS window can chain, hence the loop.
    """
    while (j := int(np.searchsorted(oos_ends, is_start, "right")) - 1) >= 0 and is_start < zone_ends[j]:
        is_start = int(zone_ends[j])
    return is_start


def _fold(plan: _Plan, utc: pd.DatetimeIndex, windows: list[tuple[int, int]], zones: tuple[np.ndarray, np.ndarray],
          k: int, min_is_bars: int) -> Fold:
    """Fold k from its OOS window: the IS before the purge gap, clipped out of earlier embargo zones."""
    oos_start, oos_end = windows[k]
    if oos_start >= oos_end:
        raise ValueError(f"fold {k}'s OOS window holds no bars because the data has a gap after "
                         f"{utc[oos_start - 1]}; use a longer oos_size or fewer folds")
    is_start, is_end, _ = _is_window(plan, oos_start)
    oos_ends, zone_ends = zones
    is_start = _clip_embargo(is_start, oos_ends[:k], zone_ends[:k])
    if is_end - is_start < min_is_bars:
        raise ValueError(f"fold {k}'s in-sample window holds {max(is_end - is_start, 0)} bars, fewer than "
                         f"min_is_bars={min_is_bars}; use a longer is_size, a shorter purge or embargo, or fewer folds")
    return Fold(k, is_start, is_end, oos_start, oos_end,
                utc[is_start], utc[is_end - 1], utc[oos_start], utc[oos_end - 1])


def plan_folds(index: pd.DatetimeIndex, spec: SplitSpec, min_is_bars: int = 1) -> list[Fold]:
    """The folds of `spec` over the bars of `index`, earliest first; ValueError says what to change if none fit."""
    if not _is_int(min_is_bars) or min_is_bars < 1:
        raise ValueError(f"min_is_bars must be a positive int, got {min_is_bars!r}")
    utc, ts = _open_times(index)
    if len(ts) == 0:
        raise ValueError("the index is empty; load some bars first")
    is_span, oos, purge, embargo = _spans(spec)
    plan = _Plan(ts, spec.mode, spec.n_folds, is_span, oos, purge, embargo)
    windows = _even_windows(plan) if oos is None else _windows_from_end(plan)
    oos_ends = np.array([end for _, end in windows], dtype=np.int64)
    zones = oos_ends, _embargo_ends(plan, oos_ends)
    return [_fold(plan, utc, windows, zones, k, min_is_bars) for k in range(len(windows))]


def plan_table(folds: Sequence[Fold]) -> pd.DataFrame:
    """One row per fold, as the CLI prints it and saves it (plan.csv)."""
    rows = [(f.index, f.is_first, f.is_last, f.is_bars, f.purge_bars, f.oos_first, f.oos_last, f.oos_bars)
            for f in folds]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
