from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ohlcv import quality
from engine.ohlcv.quality_nb import row_flags_nb
from engine.ohlcv.schema import frame_from_arrays, ts_ms_of
from tests.conftest import make_candles, shared_candles


def kinds(report: quality.QualityReport) -> dict[str, int]:
    return {issue.kind: issue.count for issue in report.issues}


def reorder(frame: pd.DataFrame, order: list[int]) -> pd.DataFrame:
    return frame.iloc[order]


def test_clean_series_has_no_issues():
    assert quality.check(make_candles(200), "1h").issues == ()


def test_duplicates_out_of_order_and_misaligned_rows_are_errors_with_their_rows():
    frame = make_candles(10)
    frame = reorder(frame, [0, 1, 2, 2, 4, 3, 5, 6, 7, 8, 9])
    ts = ts_ms_of(frame).copy()
    ts[8] += 60_000  # one minute off the hour
    frame = frame_from_arrays(ts, {c: frame[c].to_numpy() for c in frame.columns})
    report = quality.check(frame, "1h")
    assert kinds(report)["duplicate"] == 1 and report.issues[0].rows == (3,)
    assert {i.kind: i.rows for i in report.errors}["out_of_order"] == (5,)
    assert {i.kind: i.rows for i in report.errors}["misaligned"] == (8,)
    assert not report.ok


@pytest.mark.parametrize("column, value", [("high", 50.0), ("low", 500.0), ("close", np.nan), ("open", -1.0),
                                           ("volume", -0.5), ("low", 0.0)])
def test_impossible_values_are_invalid_ohlc(column, value):
    frame = make_candles(20)
    frame.iloc[11, frame.columns.get_loc(column)] = value
    (issue,) = quality.check(frame, "1h").errors
    assert issue.kind == "invalid_ohlc" and issue.rows == (11,)


def test_incomplete_last_candle_is_judged_against_when_the_data_was_obtained():
    frame = make_candles(5)
    close_of_last = int(ts_ms_of(frame)[-1]) + 3_600_000
    assert kinds(quality.check(frame, "1h", now_ms=close_of_last - 1)) == {"incomplete_last": 1}
    assert quality.check(frame, "1h", now_ms=close_of_last).ok


def test_gaps_and_zero_volume_runs_are_warnings_that_do_not_block():
    frame = make_candles(40)
    frame.iloc[20:27, frame.columns.get_loc("volume")] = 0.0
    frame = frame.drop(frame.index[5:8])
    report = quality.check(frame, "1h")
    assert report.ok and kinds(report) == {"gap": 3, "zero_volume_run": 7}
    (gap,) = report.gaps
    assert gap.start_ms == int(ts_ms_of(make_candles(40))[5]) and gap.end_ms == int(ts_ms_of(make_candles(40))[7])


def test_real_2021_outages_are_reported_as_the_data_readme_lists_them():
    report = quality.check(shared_candles("binance_BTC-USDT_5m.parquet"), "5m")
    assert report.ok
    assert len(report.gaps) == 6 and report.missing_candles == 177
    spans = {(quality.fmt_ts(g.start_ms), quality.fmt_ts(g.end_ms), g.count) for g in report.gaps}
    assert ("2021-04-25 04:05 UTC", "2021-04-25 08:40 UTC", 56) in spans  # the Binance maintenance
    assert ("2020-12-21 14:10 UTC", "2020-12-21 17:55 UTC", 46) in spans
    runs = {quality.fmt_ts(i.start_ms): i.count for i in report.warnings if i.kind == "zero_volume_run"}
    assert runs["2020-12-21 13:20 UTC"] == 10 and runs["2021-02-11 02:20 UTC"] == 17


def test_real_long_history_has_its_28_gaps():
    report = quality.check(shared_candles("binance_BTC-USDT_1h.parquet"), "1h")
    assert report.ok and len(report.gaps) == 28 and report.missing_candles == 128


def test_repairs_fix_exactly_what_they_name_and_never_fill_gaps():
    frame = make_candles(12)
    messy = reorder(frame, [0, 1, 3, 2, 4, 4, 5, 6, 9, 10, 11])  # row 7, 8 missing: a gap
    messy.iloc[6, messy.columns.get_loc("high")] = 0.5
    fixed = quality.repair(messy, "1h", ["sort", "dedupe", "drop_invalid"])
    report = quality.check(fixed, "1h")
    assert report.ok and report.missing_candles == 3  # rows 6 (dropped as invalid), 7, 8
    assert fixed.index.is_monotonic_increasing and fixed.index.is_unique
    with pytest.raises(ValueError, match="unknown repair"):
        quality.repair(messy, "1h", ["interpolate"])


def test_error_message_names_source_rows_and_the_repair_to_ask_for():
    frame = reorder(make_candles(5), [0, 1, 1, 2, 3, 4])
    error = quality.QualityError("my.csv", quality.check(frame, "1h"), lambda r: f"my.csv line {r + 2}")
    assert "my.csv: 1 data error(s)" in str(error) and "my.csv line 4" in str(error) and "dedupe" in str(error)


def _reference_flags(ts, o, h, lo, c, v, step, offset):
    invalid, misaligned = [], []
    for row in zip(ts, o, h, lo, c, v, strict=True):
        t, values = row[0], row[1:]
        bad = not all(np.isfinite(values)) or min(values[:4]) <= 0 or values[4] < 0
        bad = bad or values[1] < max(values[0], values[3]) or values[2] > min(values[0], values[3])
        invalid.append(bad)
        misaligned.append((t - offset) % step != 0)
    return np.array(invalid, dtype=bool), np.array(misaligned, dtype=bool)


values = st.one_of(st.floats(-5, 200), st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 10**7), values, values, values, values, values), max_size=40),
       step=st.sampled_from([60_000, 300_000, 3_600_000]), offset=st.sampled_from([0, 345_600_000]))
def test_row_flags_kernel_equals_the_pure_python_reference(rows, step, offset):
    columns = [np.array(col, dtype=np.int64 if i == 0 else np.float64) for i, col in enumerate(zip(*rows))] if rows \
        else [np.empty(0, np.int64)] + [np.empty(0)] * 5
    ts = columns[0] * 60_000
    got = row_flags_nb(ts, *columns[1:], step, offset)
    want = _reference_flags(ts, *columns[1:], step, offset)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
