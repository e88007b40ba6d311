"""The real ccxt client fetching through the loopback emulator, faults included."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.ohlcv import SeriesKey, Store, load, to_ms
from engine.ohlcv.conflicts import ConflictError
from engine.ohlcv.fetch import FetchError, FetchPlan, RetryPolicy, fetch
from engine.core.market_rules import rules_from_sources
from engine.ohlcv.schema import ts_ms_of
from engine.venues.ccxt_client import make_exchange
from engine.venues.emulator import BinanceEmulator, Fault, Feed
from tests.conftest import shared_candles

KEY = SeriesKey("binance", "BTC/USDT", "5m")
TRUTH = shared_candles("binance_BTC-USDT_5m.parquet")
FAST = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.01)
SINCE, UNTIL = to_ms("2021-04-24T20:00"), to_ms("2021-04-25T20:00")  # spans the 2021-04-25 maintenance


def client(emulator, **kwargs):
    return make_exchange("binance", api_url=emulator.base_url, rate_limit=False, **kwargs)


def expected(since: int, until: int):
    ts = ts_ms_of(TRUTH)
    return TRUTH[(ts >= since) & (ts < until)]


def test_fetch_stores_exactly_the_exchange_candles_across_pages_and_gaps(emulator_5m, tmp_path):
    seen = []
    result = fetch(client(emulator_5m), Store(tmp_path), FetchPlan(KEY, SINCE, UNTIL, page_limit=100),
                   policy=FAST, progress=lambda done, total: seen.append((done, total)))
    stored = load("binance", "BTC/USDT", "5m", root=tmp_path)
    want = expected(SINCE, UNTIL)
    assert stored.equals(want) and result.candles == len(want) == 288 - 56
    assert seen[-1][0] == seen[-1][1] == 288  # progress counts the whole range, outage included
    rules, where = rules_from_sources("BTC/USDT", Store(tmp_path).require(KEY).sources)  # what replay will obey
    assert where == "binance market data"
    assert (rules.qty_step, rules.px_tick, rules.min_notional, rules.margin) == (1e-05, 0.01, 5.0, True)


def test_the_in_progress_candle_is_never_stored(emulator_5m, tmp_path):
    last_open = int(ts_ms_of(TRUTH)[-1])
    emulator_5m.clock.set(last_open + 150_000)  # half-way through the last candle
    store = Store(tmp_path)
    fetch(client(emulator_5m), store, FetchPlan(KEY, last_open - 3_600_000), policy=FAST)
    stored = store.load(KEY)
    assert int(ts_ms_of(stored)[-1]) == last_open - 300_000
    assert stored.equals(expected(last_open - 3_600_000, last_open))
    emulator_5m.clock.set(last_open + 300_000)  # now it has closed: the next run fetches just that one
    result = fetch(client(emulator_5m), store, FetchPlan(KEY, last_open - 3_600_000), policy=FAST)
    assert result.candles == 1 and store.load(KEY).equals(expected(last_open - 3_600_000, last_open + 1))


def test_a_second_run_asks_only_for_what_is_missing_and_not_for_outages(emulator_5m, tmp_path):
    store, ex = Store(tmp_path), client(emulator_5m)
    fetch(ex, store, FetchPlan(KEY, SINCE, UNTIL), policy=FAST)
    before = emulator_5m.count("/api/v3/klines")
    again = fetch(ex, store, FetchPlan(KEY, SINCE, UNTIL), policy=FAST)
    assert again.ranges == [] and again.candles == 0 and emulator_5m.count("/api/v3/klines") == before
    wider = fetch(ex, store, FetchPlan(KEY, SINCE - 3_600_000, UNTIL + 3_600_000), policy=FAST)
    assert wider.ranges == [(SINCE - 3_600_000, SINCE), (UNTIL, UNTIL + 3_600_000)] and wider.candles == 24
    assert store.load(KEY).equals(expected(SINCE - 3_600_000, UNTIL + 3_600_000))


@pytest.mark.parametrize("fault", [
    Fault("rate_limit", times=2, path="/api/v3/klines"),
    Fault("ip_ban", times=1, path="/api/v3/klines"),
    Fault("unavailable", times=3, path="/api/v3/klines"),
    Fault("truncate", times=2, path="/api/v3/klines"),
    Fault("reset", times=2, path="/api/v3/klines"),
    Fault("timeout", times=1, path="/api/v3/klines", delay_s=1.5),
    Fault("rate_limit", times=1, path="/api/v3/exchangeInfo"),
    Fault("unavailable", times=2, path="/api/v3/klines", skip=3),
], ids=lambda f: f"{f.kind}-{f.path.rsplit('/', 1)[-1]}-x{f.times}-skip{f.skip}")
def test_transient_faults_are_retried_and_leave_no_duplicate_or_missing_candle(emulator_5m, tmp_path, fault):
    emulator_5m.inject(fault)
    times = fault.times
    timeout_ms = 500 if fault.kind == "timeout" else 10_000  # only the timeout case needs an impatient client
    result = fetch(client(emulator_5m, timeout_ms=timeout_ms), Store(tmp_path), FetchPlan(KEY, SINCE, UNTIL,
                   page_limit=50, flush_rows=100), policy=FAST)
    assert result.retries == times
    assert load("binance", "BTC/USDT", "5m", root=tmp_path).equals(expected(SINCE, UNTIL))


def test_a_fault_that_does_not_clear_fails_clearly_and_keeps_what_was_stored(emulator_5m, tmp_path):
    emulator_5m.inject(Fault("unavailable", times=None, path="/api/v3/klines", skip=2))
    store = Store(tmp_path)
    plan = FetchPlan(KEY, SINCE, UNTIL, page_limit=50, flush_rows=50)
    with pytest.raises(FetchError, match=r"gave up after 4 attempts; last error OperationFailed.*Internal error"):
        fetch(client(emulator_5m), store, plan, policy=FAST)
    kept = store.load(KEY)
    resume_at = int(ts_ms_of(kept)[-1]) + 300_000
    assert len(kept) == 100 and kept.equals(expected(SINCE, resume_at))  # two whole pages, checked
    emulator_5m.clear_faults()
    result = fetch(client(emulator_5m), store, plan, policy=FAST)  # resumes where it stopped
    assert result.ranges == [(resume_at, UNTIL)]
    assert store.load(KEY).equals(expected(SINCE, UNTIL))


def test_bad_credentials_are_not_retried(emulator_5m, tmp_path):
    emulator_5m.inject(Fault("bad_api_key", times=None))
    with pytest.raises(FetchError, match=r"AuthenticationError.*Invalid API-key.*\(not retried\)"):
        fetch(client(emulator_5m), Store(tmp_path), FetchPlan(KEY, SINCE, UNTIL), policy=FAST)
    assert emulator_5m.count("/api/v3/exchangeInfo") == 1


@pytest.mark.parametrize("key, message", [
    (SeriesKey("binance", "DOGE/USDT", "5m"), "binance has no market DOGE/USDT"),
    (SeriesKey("binance", "BTC/USDT", "7m"), "does not offer timeframe 7m"),
    (SeriesKey("binance", "BTC/USDT", "1h"), r"BadRequest.*Invalid interval.*serves BTC/USDT at 5m"),
])
def test_requests_that_cannot_succeed_name_what_to_change(emulator_5m, tmp_path, key, message):
    with pytest.raises(FetchError, match=message):
        fetch(client(emulator_5m), Store(tmp_path), FetchPlan(key, SINCE, UNTIL), policy=FAST)
    assert Store(tmp_path).series() == []


def test_since_after_the_last_closed_candle_is_refused(emulator_5m, tmp_path):
    with pytest.raises(FetchError, match="nothing to fetch"):
        fetch(client(emulator_5m), Store(tmp_path), FetchPlan(KEY, to_ms("2030-01-01")), policy=FAST)


def test_retry_after_is_honoured_and_backoff_grows(emulator_5m, tmp_path):
    emulator_5m.inject(Fault("rate_limit", times=1, retry_after_s=7, path="/api/v3/klines"),
                       Fault("unavailable", times=3, path="/api/v3/klines"))
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=60.0)
    fetch(client(emulator_5m), Store(tmp_path), FetchPlan(KEY, SINCE, UNTIL), policy=policy, sleep=slept.append)
    assert slept[0] >= 7.0  # the server said wait 7 s
    assert all(0 <= d <= 2 ** (i + 1) for i, d in enumerate(slept[1:], start=1))  # full jitter under the cap


def test_the_exchange_rate_limit_is_respected(emulator_5m, tmp_path):
    ex = make_exchange("binance", api_url=emulator_5m.base_url, rate_limit=True)
    ex.rateLimit = 100  # ms per unit of cost; ccxt 4.5.90 weighs a spot klines request 0.4: 40 ms between them
    started = time.monotonic()
    result = fetch(ex, Store(tmp_path), FetchPlan(KEY, SINCE, UNTIL, page_limit=25), policy=FAST)
    elapsed = time.monotonic() - started
    assert result.requests >= 12
    assert elapsed >= (result.requests - 2) * 0.100 * 0.4 * 0.9  # throttled: never faster than the limit allows


def test_partial_pages_and_fetch_values_round_trip_bit_for_bit(emulator_5m, tmp_path):
    fetch(client(emulator_5m), Store(tmp_path), FetchPlan(KEY, SINCE, SINCE + 7 * 300_000, page_limit=3), policy=FAST)
    stored = load("binance", "BTC/USDT", "5m", root=tmp_path)
    np.testing.assert_array_equal(stored.to_numpy(), expected(SINCE, SINCE + 7 * 300_000).to_numpy())


def test_progress_moves_with_every_page_and_commits_are_bounded_in_time(emulator_5m, tmp_path):
    emulator_5m.inject(Fault("unavailable", times=None, path="/api/v3/klines", skip=3))
    seen, store = [], Store(tmp_path)
    plan = FetchPlan(KEY, SINCE, UNTIL, page_limit=20, flush_rows=10**9, flush_seconds=0.0)  # no row bound
    with pytest.raises(FetchError):
        fetch(client(emulator_5m), store, plan, policy=FAST, progress=lambda done, total: seen.append(done))
    assert len(store.load(KEY)) == 60  # each of the three pages was committed as it came
    assert seen[:4] == [0, 20, 40, 60]  # the bar moved page by page


def test_a_damaged_partition_in_the_range_is_healed_and_fetched_again(emulator_5m, tmp_path):
    store, ex, april = Store(tmp_path), client(emulator_5m), to_ms("2021-04-01")
    fetch(ex, store, FetchPlan(KEY, april, UNTIL), policy=FAST)
    path = KEY.folder(tmp_path) / store.manifest(KEY).partitions["2021-04"].file
    path.write_bytes(path.read_bytes()[:500])  # truncated
    result = fetch(ex, store, FetchPlan(KEY, SINCE, UNTIL), policy=FAST)  # a narrower range still heals April
    assert result.healed is not None and "truncated" in result.healed.problems[0]
    assert result.candles == len(expected(april, UNTIL))  # all of April again, not "0 new candles"
    assert store.load(KEY).equals(expected(april, UNTIL)) and store.verify_files(KEY) == []
    assert [p.parent.name for p in result.healed.quarantined] == ["quarantine"]  # kept, not deleted


def test_a_candle_the_exchange_revised_is_reported_and_replaced_only_when_asked(emulator_5m, tmp_path):
    store, ex = Store(tmp_path), client(emulator_5m)
    cached = expected(SINCE, UNTIL).copy()
    cached.iloc[10, cached.columns.get_loc("volume")] += 1.0  # what we hold differs from the exchange's
    store.write(KEY, cached, source={"kind": "import", "file": "old.csv"}, obtained_ms=UNTIL)
    with pytest.raises(ConflictError) as caught:
        fetch(ex, store, FetchPlan(KEY, SINCE, UNTIL), policy=FAST)
    assert caught.value.conflicts.rows == 1 and caught.value.conflicts.first_ms == int(ts_ms_of(cached)[10])
    assert store.load(KEY).equals(cached)
    result = fetch(ex, store, FetchPlan(KEY, SINCE, UNTIL, on_conflict="replace"), policy=FAST)
    assert result.replaced == 1 and store.load(KEY).equals(expected(SINCE, UNTIL))


def test_a_perpetual_is_fetched_through_the_futures_api_into_its_own_series(tmp_path):
    spot, swap = SeriesKey("binance", "BTC/USDT", "5m"), SeriesKey("binance", "BTC/USDT:USDT", "5m")
    perpetual = TRUTH.iloc[:2000].copy()
    perpetual[["open", "high", "low", "close"]] *= 1.001  # the perpetual trades a little above spot
    feeds = [Feed.from_frame("BTC/USDT", "5m", TRUTH.iloc[:2000]), Feed.from_frame("BTC/USDT:USDT", "5m", perpetual)]
    with BinanceEmulator(feeds) as emulator:
        store, until = Store(tmp_path), int(ts_ms_of(TRUTH)[2000])
        for key in (spot, swap):
            fetch(client(emulator), store, FetchPlan(key, int(ts_ms_of(TRUTH)[0]), until), policy=FAST)
        assert emulator.count("/fapi/v1/klines") > 0
    assert store.load(swap).equals(perpetual) and store.load(spot).equals(TRUTH.iloc[:2000])
    manifest = store.manifest(swap)
    assert manifest.market_type == "swap" and manifest.sources[-1]["market"]["type"] == "swap"
    assert swap.folder(tmp_path).parent.name == "BTC-USDT_USDT" and store.manifest(spot).market_type == "spot"


def test_a_range_that_ends_exactly_at_a_full_page_keeps_its_last_page(emulator_5m, tmp_path):
    start = to_ms("2021-01-10")  # 200 candles without a gap
    plan = FetchPlan(KEY, start, start + 200 * 300_000, page_limit=100)  # two full pages, nothing after
    result = fetch(client(emulator_5m), Store(tmp_path), plan, policy=FAST)
    assert result.candles == 200 and Store(tmp_path).load(KEY).equals(expected(start, start + 200 * 300_000))
