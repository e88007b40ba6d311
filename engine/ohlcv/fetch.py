"""Filling the cache through ccxt: paginated, rate-limited, retried, resumable, never an open candle.

What is missing is worked out from the manifest's record of ranges the exchange already answered, so a
second run asks only for what is new, and a range the exchange has no candles for (an outage) is not
asked again. Rows are committed in bounded steps (every couple of seconds or so many rows, whichever
comes first), so an interruption loses at most a few seconds of work. Before fetching, the partitions of
the months it will extend are checked and a damaged one is healed (`heal`): its range is fetched again
instead of being reported as already cached. A candle the exchange revised since it was cached is
refused with the differences unless the plan says to replace.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import ccxt
import numpy as np
import structlog

from engine.ohlcv.heal import Healed, heal
from engine.ohlcv.layout import SeriesKey
from engine.ohlcv.manifest import missing_intervals
from engine.ohlcv.schema import frame_from_arrays
from engine.ohlcv.store import Store
from engine.ohlcv.timeframe import ceil_ms, floor_ms

log = structlog.get_logger("gauntlet.fetch")
T = TypeVar("T")

# Worth another try: connectivity, throttling, bans with Retry-After, timeouts, garbled bodies.
# OperationFailed is ccxt's parent of NetworkError and also what Binance's -1001 "internal error" maps to.
RETRYABLE = (ccxt.OperationFailed, ccxt.BadResponse)


class FetchError(RuntimeError):
    """A fetch that cannot succeed as asked; the message says why and what to change."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""

    max_attempts: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        backoff = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return max(rng.uniform(0, backoff), retry_after_s or 0.0)


@dataclass(frozen=True, slots=True)
class FetchPlan:
    key: SeriesKey  # where the rows go (the exchange folder may differ from the ccxt id, e.g. "synthetic")
    since_ms: int
    until_ms: int | None = None  # exclusive; None = up to the last closed candle
    page_limit: int = 1000
    flush_rows: int = 50_000  # a commit at least this often (rows) ...
    flush_seconds: float = 2.0  # ... and this often (wall time), so an interruption loses little
    on_conflict: str = "refuse"  # or "replace": take the exchange's revised candles


@dataclass(slots=True)
class FetchResult:
    key: SeriesKey
    ranges: list[tuple[int, int]]  # what was missing and asked for
    candles: int = 0
    requests: int = 0
    retries: int = 0
    server_now_ms: int = 0
    rows_in_cache: int = 0
    healed: Healed | None = None  # what was damaged in the fetched months, and set right
    replaced: int = 0  # cached candles the exchange had revised (only with on_conflict="replace")


@dataclass(slots=True)
class _Caller:
    """Runs one ccxt call with the retry policy and counts what happened."""

    client: Any
    policy: RetryPolicy
    sleep: Callable[[float], None]
    rng: random.Random = field(default_factory=lambda: random.Random())
    requests: int = 0
    retries: int = 0

    def __call__(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        for attempt in range(1, self.policy.max_attempts + 1):
            self.requests += 1
            try:
                return fn(*args, **kwargs)
            except RETRYABLE as exc:
                if attempt == self.policy.max_attempts:
                    raise FetchError(f"{what}: gave up after {attempt} attempts; last error "
                                     f"{type(exc).__name__}: {_short(exc)}") from exc
                delay = self.policy.delay_s(attempt, _retry_after_s(self.client), self.rng)
                log.warning("fetch.retry", call=what, attempt=attempt, error=type(exc).__name__, delay_s=round(delay, 3))
                self.retries += 1
                self.sleep(delay)
            except ccxt.BaseError as exc:
                raise FetchError(f"{what}: {type(exc).__name__}: {_short(exc)} (not retried)") from exc
        raise AssertionError("unreachable")


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "…"


def _retry_after_s(client: Any) -> float | None:
    headers = getattr(client, "last_response_headers", None) or {}
    value = next((v for k, v in dict(headers).items() if k.lower() == "retry-after"), None)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def fetch(
    client: Any,
    store: Store,
    plan: FetchPlan,
    *,
    policy: RetryPolicy = RetryPolicy(),
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Fetch what the cache lacks of `plan`; `progress(done, total)` is called in candles."""
    key, step = plan.key, plan.key.timeframe_ms
    call = _Caller(client, policy, sleep)
    markets = call("load markets", client.load_markets)
    if key.symbol not in markets:
        raise FetchError(f"{client.id} has no market {key.symbol} (check the symbol, e.g. BTC/USDT)")
    if key.timeframe not in (getattr(client, "timeframes", None) or {key.timeframe: key.timeframe}):
        raise FetchError(f"{client.id} does not offer timeframe {key.timeframe}; it offers {', '.join(client.timeframes)}")
    now = call("fetch server time", client.fetch_time) if client.has.get("fetchTime") else client.milliseconds()
    until = floor_ms(now, key.timeframe) if plan.until_ms is None else min(plan.until_ms, floor_ms(now, key.timeframe))
    since = ceil_ms(plan.since_ms, key.timeframe)
    if since >= until:
        raise FetchError(f"nothing to fetch: --since {_iso(plan.since_ms)} is not before the last closed candle "
                         f"boundary {_iso(until)}")
    healed = heal(store, key, now_ms=now, rebuild=False, span=(since, until))
    manifest = store.manifest(key)
    ranges = missing_intervals(min([since, *(lo for lo, _ in healed.lost)]), until, manifest.fetched if manifest else ())
    result = FetchResult(key, ranges, server_now_ms=now, healed=healed if healed.changed else None)
    total, done = sum((b - a) // step for a, b in ranges), 0
    report = progress or (lambda done, total: None)
    report(0, total)
    source = _source(client, markets[key.symbol], key, now)
    for lo, hi in ranges:
        pages = _pages(call, client, plan, lo, hi, now,
                       on_page=lambda cursor, base=done, lo=lo: report(base + (cursor - lo) // step, total))
        for batch_lo, batch_hi, rows in pages:
            frame = frame_from_arrays(rows[:, 0].astype(np.int64), rows[:, 1:])
            written = store.write(key, frame, source=source, obtained_ms=now, fetched=(batch_lo, batch_hi),
                                  on_conflict=plan.on_conflict)
            result.replaced += written.sources[-1].get("replaced", {}).get("rows", 0)
            result.candles += len(rows)
        done += (hi - lo) // step
    result.requests, result.retries = call.requests, call.retries
    final = store.manifest(key)
    result.rows_in_cache = final.rows if final else 0
    return result


def _source(client: Any, market: dict, key: SeriesKey, now: int) -> dict:
    """How the manifest remembers a fetch; a market whose type is not what the symbol says is refused."""
    kind = market.get("type") or "spot"
    if kind != key.market_type:
        raise FetchError(f"{client.id} lists {key.symbol} as a {kind} market, but the symbol's form says "
                         f"{key.market_type}; use ccxt's unified symbol (e.g. BTC/USDT:USDT for a linear swap)")
    return {"kind": "ccxt", "exchange": client.id, "api_url": _api_url(client), "fetched_at_ms": now,
            "market": {"symbol": key.symbol, "type": kind, "precision": market.get("precision"),
                       "limits": market.get("limits"),
                       "margin": market.get("margin")}}  # whether the exchange lends for shorts


def _pages(call: _Caller, client: Any, plan: FetchPlan, lo: int, hi: int, now: int,
           on_page: Callable[[int], Any]) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (answered_from, answered_to, rows) batches covering [lo, hi), each at most `flush_rows`
    rows or `flush_seconds` of fetching; `on_page(cursor)` after every page."""
    step, cursor, batch_lo, buffered = plan.key.timeframe_ms, lo, lo, []
    started = time.monotonic()
    while cursor < hi:
        page = call(f"fetch {plan.key.symbol} {plan.key.timeframe} from {_iso(cursor)}", _fetch_page,
                    client, plan, cursor, hi)
        rows = page[(page[:, 0] >= cursor) & (page[:, 0] < hi) & (page[:, 0] + step <= now)]
        exhausted = len(page) < plan.page_limit or not len(rows)
        cursor = hi if exhausted else int(rows[-1, 0]) + step
        buffered.append(rows)
        on_page(cursor)
        done = exhausted or cursor >= hi  # a full last page that ends exactly at `hi` is done too
        if done or sum(map(len, buffered)) >= plan.flush_rows or time.monotonic() - started >= plan.flush_seconds:
            yield batch_lo, cursor, np.concatenate(buffered)
            batch_lo, buffered, started = cursor, [], time.monotonic()


def _fetch_page(client: Any, plan: FetchPlan, cursor: int, hi: int) -> np.ndarray:
    """One page as an (n, 6) array; a body that is not candles counts as a garbled response (retried)."""
    raw = client.fetch_ohlcv(plan.key.symbol, plan.key.timeframe, since=cursor, limit=plan.page_limit,
                             params={"until": hi - 1})
    try:
        rows = np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)[:, :6] if len(raw) else np.empty((0, 6))
        if rows.shape[1] != 6:
            raise ValueError
    except (TypeError, ValueError) as exc:
        raise ccxt.BadResponse(f"{plan.key}: exchange returned malformed candles: {str(raw)[:120]}") from exc
    return rows


def _api_url(client: Any) -> str:
    api = client.urls.get("api")
    return next(iter(api.values())) if isinstance(api, dict) else str(api)


def _iso(ts_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ms / 1000))
