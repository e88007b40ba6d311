"""Data-quality checks for candle series, and the documented repairs.

Errors make a series unusable until repaired (duplicates, out-of-order or misaligned rows, impossible
OHLC values, an in-progress last candle); warnings describe the market as it was (gaps, long runs of
zero volume) and never block. No repair invents a price: gaps stay gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.ohlcv.quality_nb import row_flags_nb
from engine.ohlcv.schema import VALUE_COLUMNS, ts_ms_of
from engine.ohlcv.timeframe import alignment_offset_ms, timeframe_ms

ERROR_KINDS = ("duplicate", "out_of_order", "misaligned", "invalid_ohlc", "incomplete_last")
REPAIRS = {
    "sort": "sort rows by open time",
    "dedupe": "keep the last row of each repeated open time",
    "drop_invalid": "drop misaligned rows and rows with NaN or infinite values, non-positive prices, negative volume or high/low "
    "outside open/close",
    "drop_incomplete": "drop a last candle that had not closed when the data was obtained",
}
DEFAULT_MIN_ZERO_VOLUME_RUN = 5
_ROWS_SHOWN = 5


def fmt_ts(ts_ms: int) -> str:
    """Readable UTC time; seconds appear only when the time is not on a whole minute."""
    pattern = "%Y-%m-%d %H:%M UTC" if int(ts_ms) % 60_000 == 0 else "%Y-%m-%d %H:%M:%S UTC"
    return pd.Timestamp(int(ts_ms), unit="ms", tz="UTC").strftime(pattern)


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding: `rows` are 0-based row positions in the checked frame (for a gap, the row after it)."""

    kind: str
    count: int
    start_ms: int
    end_ms: int
    rows: tuple[int, ...] = ()
    detail: str = ""

    @property
    def severity(self) -> str:
        return "error" if self.kind in ERROR_KINDS else "warning"  # gaps and zero-volume runs

    def describe(self, locate: Callable[[int], str] | None = None) -> str:
        where = ""
        if self.rows:
            shown = [locate(r) if locate else f"row {r}" for r in self.rows[:_ROWS_SHOWN]]
            more = f" and {len(self.rows) - _ROWS_SHOWN} more" if len(self.rows) > _ROWS_SHOWN else ""
            where = f" at {', '.join(shown)}{more}"
        span = fmt_ts(self.start_ms) if self.start_ms == self.end_ms else f"{fmt_ts(self.start_ms)} → {fmt_ts(self.end_ms)}"
        return f"{self.kind} ×{self.count} ({span}){where}{': ' + self.detail if self.detail else ''}"


@dataclass(frozen=True, slots=True)
class QualityReport:
    rows: int
    issues: tuple[Issue, ...] = field(default_factory=tuple)
    zero_volume_candles: int = 0  # all of them, in runs of any length (the issues list only the long runs)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def gaps(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.kind == "gap")

    @property
    def missing_candles(self) -> int:
        return sum(i.count for i in self.gaps)

    @property
    def ok(self) -> bool:
        return not self.errors


class QualityError(ValueError):
    """Data failed the checks; the message names the source and the rows, and the repairs that apply."""

    def __init__(self, source: str, report: QualityReport, locate: Callable[[int], str] | None = None) -> None:
        self.source, self.report = source, report
        lines = [f"{source}: {len(report.errors)} data error(s)"]
        lines += [f"  - {issue.describe(locate)}" for issue in report.errors]
        lines.append(f"  fix the source, or ask for a repair: {', '.join(_repairs_for(report.errors))}")
        super().__init__("\n".join(lines))


def _repairs_for(errors: Iterable[Issue]) -> list[str]:
    wanted = {"duplicate": "dedupe", "out_of_order": "sort", "misaligned": "drop_invalid",
              "invalid_ohlc": "drop_invalid", "incomplete_last": "drop_incomplete"}
    return sorted({wanted[e.kind] for e in errors})


def check(
    frame: pd.DataFrame,
    timeframe: str,
    *,
    now_ms: int | None = None,
    min_zero_volume_run: int = DEFAULT_MIN_ZERO_VOLUME_RUN,
) -> QualityReport:
    """Every check on a cache frame in file order; `now_ms` is when the data was obtained."""
    ts = ts_ms_of(frame)
    step = timeframe_ms(timeframe)
    issues: list[Issue] = []
    if len(ts):
        diffs = np.diff(ts)
        issues += _rows_issue("duplicate", np.flatnonzero(diffs == 0) + 1, ts)
        issues += _rows_issue("out_of_order", np.flatnonzero(diffs < 0) + 1, ts, "open time earlier than the row before")
        invalid, misaligned = _row_flags(frame, timeframe)
        issues += _rows_issue("misaligned", np.flatnonzero(misaligned), ts, f"open time not on a {timeframe} boundary")
        issues += _rows_issue("invalid_ohlc", np.flatnonzero(invalid), ts,
                              "NaN or infinite value, non-positive price, negative volume, or high/low outside open/close")
        issues += _gaps(ts, diffs, step)
        issues += _zero_volume_runs(frame["volume"].to_numpy(), ts, min_zero_volume_run)
        if now_ms is not None and ts.max() + step > now_ms:
            last = int(np.argmax(ts))
            issues.append(Issue("incomplete_last", 1, int(ts[last]), int(ts[last]), (last,),
                                f"candle closes at {fmt_ts(int(ts[last]) + step)}, after the data was obtained"))
    zero = int(np.count_nonzero(frame["volume"].to_numpy() == 0)) if len(ts) else 0
    return QualityReport(rows=len(ts), issues=tuple(issues), zero_volume_candles=zero)


def _rows_issue(kind: str, rows: np.ndarray, ts: np.ndarray, detail: str = "") -> list[Issue]:
    if not len(rows):
        return []
    return [Issue(kind, len(rows), int(ts[rows].min()), int(ts[rows].max()), tuple(int(r) for r in rows), detail)]


def _row_flags(frame: pd.DataFrame, timeframe: str) -> tuple[np.ndarray, np.ndarray]:
    """(invalid, misaligned) row masks; see `quality_nb.row_flags_nb`."""
    columns = (np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64)) for name in VALUE_COLUMNS)
    return row_flags_nb(np.ascontiguousarray(ts_ms_of(frame)), *columns, timeframe_ms(timeframe),
                        alignment_offset_ms(timeframe))


def _gaps(ts: np.ndarray, diffs: np.ndarray, step: int) -> list[Issue]:
    if (diffs > 0).all():  # the usual case: already sorted and unique
        ordered, position = ts, np.arange(len(ts))
    else:
        ordered, position = np.unique(ts, return_index=True)
    jumps = np.flatnonzero(np.diff(ordered) > step)
    issues = []
    for j in jumps:
        first_missing, next_present = int(ordered[j]) + step, int(ordered[j + 1])
        missing = (next_present - first_missing) // step
        issues.append(Issue("gap", missing, first_missing, next_present - step, (int(position[j + 1]),),
                            f"{missing} candle(s) missing"))
    return issues


def _zero_volume_runs(volume: np.ndarray, ts: np.ndarray, min_run: int) -> list[Issue]:
    zero = np.concatenate(([0], (volume == 0).astype(np.int8), [0]))
    edges = np.diff(zero)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [
        Issue("zero_volume_run", int(e - s), int(ts[s]), int(ts[e - 1]), (int(s),), f"{e - s} candles with zero volume")
        for s, e in zip(starts, ends, strict=True)
        if e - s >= min_run
    ]


def repair(frame: pd.DataFrame, timeframe: str, repairs: Iterable[str], *, now_ms: int | None = None) -> pd.DataFrame:
    """Apply the named repairs (see `REPAIRS`) in a fixed, safe order; never fills a gap."""
    repairs = set(repairs)
    unknown = repairs - REPAIRS.keys()
    if unknown:
        raise ValueError(f"unknown repair(s) {', '.join(sorted(unknown))}; choose from {', '.join(REPAIRS)}")
    if "drop_invalid" in repairs:
        invalid, misaligned = _row_flags(frame, timeframe)
        frame = frame[~(invalid | misaligned)]
    if "sort" in repairs:
        frame = frame.sort_index(kind="stable")
    if "dedupe" in repairs:
        frame = frame[~frame.index.duplicated(keep="last")]
    if "drop_incomplete" in repairs and now_ms is not None and len(frame):
        frame = frame[ts_ms_of(frame) + timeframe_ms(timeframe) <= now_ms]
    return frame
