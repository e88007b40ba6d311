"""The gaps in a run's window, as every run states them, and the `--max-gap` refusal.

A gap is a stretch of missing candles (found by `engine.ohlcv.quality.check`); its length is the time
missing, `missing bars x bar length` (one missing 1h candle is a 1h gap). Across a gap an indicator
spans the missing time and a "next open" fill happens at the first bar after it, possibly long after the
decision: a run says how many of its fills landed there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.strategy.bars import Bars
from engine.ohlcv.quality import check, fmt_ts
from engine.ohlcv.timeframe import timeframe_ms

__all__ = ["GapSummary", "describe_record", "gap_summary", "parse_max_gap", "refuse_long_gaps"]

_FIRST_SHOWN = 5


@dataclass(frozen=True, slots=True)
class GapSummary:
    """The gaps of one window of bars."""

    timeframe: str
    gaps: int
    missing_bars: int
    longest_bars: int  # 0 when there is no gap
    longest_from_ms: int | None  # first missing open time of the longest gap
    after_gap_rows: tuple[int, ...]  # bar position of the first bar after each gap

    @property
    def longest_ms(self) -> int:
        return self.longest_bars * timeframe_ms(self.timeframe)

    def fills_after_gaps(self, fill_bars: Iterable[int], ts_ms: np.ndarray) -> dict:
        """How many fills happened at the first bar after a gap (their decision was made before it)."""
        after = set(self.after_gap_rows)
        hits = sorted(int(b) for b in fill_bars if int(b) in after)
        return {"fills_after_gap": len(hits), "first_fills_after_gap": [fmt_ts(int(ts_ms[b])) for b in hits[:_FIRST_SHOWN]]}

    def run_record(self, fill_bars: Iterable[int], ts_ms: np.ndarray) -> dict:
        """What run.json states: the gaps of the window and the fills right after one."""
        return {**self.record(), **self.fills_after_gaps(fill_bars, ts_ms)}

    def record(self) -> dict:
        return {"gaps": self.gaps, "missing_bars": self.missing_bars, "longest_gap": _duration(self.longest_ms),
                "longest_gap_bars": self.longest_bars,
                "longest_gap_from": fmt_ts(self.longest_from_ms) if self.longest_from_ms is not None else None}

    def describe(self) -> str:
        if not self.gaps:
            return "no gaps"
        return (f"{self.gaps} gap(s), {self.missing_bars:,} missing {self.timeframe} bars, the longest "
                f"{_duration(self.longest_ms)} from {fmt_ts(self.longest_from_ms)}")


def describe_record(record: dict) -> str:
    """One console line from a `run_record`."""
    if not record["gaps"]:
        return "no gaps in the window"
    first = f" (first at {record['first_fills_after_gap'][0]})" if record["fills_after_gap"] else ""
    return (f"{record['gaps']} gap(s) in the window, {record['missing_bars']:,} missing bars, the longest "
            f"{record['longest_gap']} from {record['longest_gap_from']}; {record['fills_after_gap']} fill(s) right "
            f"after a gap{first}")


def gap_summary(bars: Bars, timeframe: str) -> GapSummary:
    gaps = check(bars.to_frame(), timeframe).gaps
    if not gaps:
        return GapSummary(timeframe, 0, 0, 0, None, ())
    longest = max(gaps, key=lambda g: (g.count, -g.start_ms))  # the first of equally long gaps
    return GapSummary(timeframe, len(gaps), sum(g.count for g in gaps), longest.count, longest.start_ms,
                      tuple(g.rows[0] for g in gaps))


def parse_max_gap(text: str | None) -> int | None:
    """`--max-gap` as milliseconds: a duration such as 2h, 90min, 1d or 3D (pandas' spelling)."""
    if text is None:
        return None
    try:
        value = pd.Timedelta(text.strip().lower()) if any(c.isalpha() for c in text) else None
    except ValueError:
        value = None
    if value is None or value <= pd.Timedelta(0):
        raise ValueError(f"--max-gap {text!r} is not a positive duration; write it as 2h, 90min or 1d")
    return int(value / pd.Timedelta(1, "ms"))


def refuse_long_gaps(summary: GapSummary, max_gap: str | None, source: str) -> None:
    """A ValueError naming the flag and the gap when the longest gap is longer than `max_gap`."""
    limit_ms = parse_max_gap(max_gap)
    if limit_ms is not None and summary.longest_ms > limit_ms:
        raise ValueError(f"{source}: the longest gap is {_duration(summary.longest_ms)} ({summary.longest_bars} missing "
                         f"{summary.timeframe} bars from {fmt_ts(summary.longest_from_ms)}), longer than --max-gap "
                         f"{max_gap}; raise --max-gap, or pick a window without it with --start/--end")


def _duration(ms: int) -> str:
    """3d 4h, 2h 30min, 45s: the nonzero parts, largest first."""
    parts, rest = [], int(ms)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts) or "0"
