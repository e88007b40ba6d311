"""The bodies of `gauntlet data ...` and `gauntlet emulator serve`: engine calls plus rich output."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from engine.logs import configure_logging
from engine.ohlcv import SeriesKey, Store, to_ms
from engine.ohlcv.fetch import FetchPlan, FetchResult, RetryPolicy, fetch
from engine.ohlcv.heal import Healed
from engine.ohlcv.inventory import SeriesHealth, inspect, select
from engine.ohlcv.quality import fmt_ts
from engine.venues.ccxt_client import make_exchange
from research.console import console

if TYPE_CHECKING:
    from engine.venues.clock import Clock
    from engine.venues.emulator import BinanceEmulator, Fault, Feed, TradingConfig



def fetch_series(client: object, store: Store, plan: FetchPlan, policy: RetryPolicy) -> FetchResult:
    """One fetch with a progress bar in candles, with ETA."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("candles"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"fetch {plan.key}", total=None)
        result = fetch(client, store, plan, policy=policy,
                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    return result


def fetch_command(exchange: str, symbol: str, timeframe: str, since: str, until: str | None, api_url: str | None,
                  store_as: str | None, rate_limit: bool, max_attempts: int, replace: bool = False) -> None:
    configure_logging()
    key = SeriesKey(store_as or exchange, symbol, timeframe)
    plan = FetchPlan(key, to_ms(since), to_ms(until), on_conflict="replace" if replace else "refuse")
    client = make_exchange(exchange, api_url=api_url, rate_limit=rate_limit)
    started = time.perf_counter()
    result = fetch_series(client, Store(), plan, RetryPolicy(max_attempts=max_attempts))
    elapsed = time.perf_counter() - started
    if result.healed is not None:
        print_healed(result.healed)
    replaced = f"; replaced {result.replaced:,} candle(s) the exchange had revised" if result.replaced else ""
    console.print(f"{key}: {result.candles:,} new candles in {result.requests} requests ({result.retries} retried), "
                  f"{elapsed:.1f} s; cache now holds {result.rows_in_cache:,} rows{replaced}", highlight=False)


def print_healed(healed: Healed) -> None:
    """What a heal found, moved aside and lost, in the words the user needs to act on it."""
    what = "rebuilt the manifest" if healed.rebuilt else "healed"
    console.print(f"[yellow]{healed.key}: {what}: {len(healed.problems)} problem(s)[/]")
    for problem in healed.problems:
        console.print(f"  [red]damaged[/] {problem}", highlight=False)
    for path in healed.quarantined:
        console.print(f"  moved aside (kept, not used): {path}", highlight=False)
    for lo, hi in healed.lost:
        console.print(f"  no longer cached: {fmt_ts(lo)} → {fmt_ts(hi)}", highlight=False)


def import_command(files: Sequence[Path], exchange: str | None, symbol: str | None, timeframe: str | None,
                   repair: Sequence[str], replace: bool = False) -> None:
    from engine.ohlcv.importer import import_files

    imported = import_files(Store(), list(files), exchange=exchange, symbol=symbol, timeframe=timeframe, repair=repair,
                            on_conflict="replace" if replace else "refuse")
    for item in imported:
        warnings = "; ".join(issue.describe(item.locate) for issue in item.report.warnings[:3])
        more = f" (+{len(item.report.warnings) - 3} more)" if len(item.report.warnings) > 3 else ""
        zero = item.report.zero_volume_candles
        console.print(f"{item.path.name} -> {item.key}: {len(item.frame):,} rows"
                      + (f", {zero:,} with zero volume ({zero / len(item.frame):.1%})" if zero else "")
                      + (f"; warnings: {warnings}{more}" if warnings else ""), highlight=False)
        if item.replaced is not None:
            console.print(f"  [yellow]replaced[/] {item.replaced.describe()}", highlight=False)


def repair_command(exchange: str, symbol: str, timeframe: str, api_url: str | None, rate_limit: bool,
                   max_attempts: int) -> bool:
    """Heal the series, then fetch again what it lost when it came from an exchange; False if data is
    still missing that only the user can bring back."""
    from engine.ohlcv.heal import heal

    store, key = Store(), SeriesKey(exchange, symbol, timeframe)
    sources = _recorded_sources(store, key)
    healed = heal(store, key, now_ms=time.time_ns() // 1_000_000)
    if healed.manifest is None:
        raise LookupError(f"{key} has no files under {key.folder(store.root)}; nothing to repair")
    if not healed.changed:
        console.print(f"{key}: every partition file is intact; nothing to repair", style="green")
        return True
    print_healed(healed)
    if not healed.lost:
        return True
    fetched = [s for s in sources if s.get("kind") == "ccxt"]
    if not fetched:
        imports = sorted({str(s["file"]) for s in sources if s.get("kind") == "import" and s.get("file")})
        hint = f"import again: {', '.join(imports)}" if imports else "fetch or import those ranges again"
        console.print(f"[red]{key}: the ranges above are gone from the cache[/]; {hint}", highlight=False)
        return False
    origin = fetched[-1]
    client = make_exchange(str(origin["exchange"]), api_url=api_url or _loopback(origin.get("api_url")),
                           rate_limit=rate_limit)
    for lo, hi in healed.lost:
        plan = FetchPlan(key, lo, hi)
        result = fetch_series(client, store, plan, RetryPolicy(max_attempts=max_attempts))
        console.print(f"{key}: fetched {result.candles:,} candles again for {fmt_ts(lo)} → {fmt_ts(hi)}",
                      highlight=False)
    return True


def _recorded_sources(store: Store, key: SeriesKey) -> tuple[dict, ...]:
    """Where the series came from, if its manifest can still say."""
    try:
        manifest = store.manifest(key)
    except ValueError:
        return ()
    return manifest.sources if manifest else ()


def _loopback(url: object) -> str | None:
    """A recorded API address worth reusing: only the loopback emulator's (an exchange's own is ccxt's default)."""
    parts = urlsplit(str(url or ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.hostname in ("127.0.0.1", "localhost") else None


def verify_command(exchange: str | None, symbol: str | None, timeframe: str | None, zero_volume_run: int) -> bool:
    store = Store()
    healths = [inspect(store, key, min_zero_volume_run=zero_volume_run) for key in select(store, exchange, symbol, timeframe)]
    for health in healths:
        _print_health(health)
    bad = [h for h in healths if not h.ok]
    console.print(f"{len(healths)} series checked, {len(bad)} with errors", style="red" if bad else "green")
    return not bad


def _print_health(health: SeriesHealth) -> None:
    label = " [yellow](SYNTHETIC sample data)[/]" if health.synthetic else ""
    state = "[green]ok[/]" if health.ok else "[red]ERRORS[/]"
    zero = health.report.zero_volume_candles
    zeros = f", {zero:,} with zero volume ({zero / health.report.rows:.1%})" if zero else ""
    console.print(f"[bold]{health.key}[/]{label}: {health.report.rows:,} rows{zeros}, {state}")
    for problem in health.file_problems:
        console.print(f"  [red]file[/] {problem}", highlight=False)
    if health.report.issues:
        table = Table("severity", "kind", "count", "from", "to", "detail", box=None, padding=(0, 1))
        for issue in health.report.issues:
            table.add_row("[red]error[/]" if issue.severity == "error" else "[yellow]warning[/]", issue.kind,
                          str(issue.count), fmt_ts(issue.start_ms), fmt_ts(issue.end_ms), issue.detail)
        console.print(table)


def list_command() -> None:
    store = Store()
    keys = store.series()
    if not keys:
        console.print(f"the cache at {store.root / 'ohlcv'} is empty; try `gauntlet data fetch` or `make demo`")
        return
    console.print(summary_table([inspect(store, key) for key in keys]))


def summary_table(healths: Sequence[SeriesHealth]) -> Table:
    table = Table("series", "rows", "first (UTC)", "last (UTC)", "gaps", "missing", "zero volume", "errors", "source",
                  title="OHLCV cache", title_justify="left")
    for h in healths:
        m = h.manifest
        name = f"[yellow]{h.key} (SYNTHETIC)[/]" if h.synthetic else str(h.key)
        if m.market_type != "spot":
            name += f" [dim]{m.market_type}[/]"
        errors = len(h.report.errors) + len(h.file_problems)
        zero = h.report.zero_volume_candles
        table.add_row(name, f"{m.rows:,}", _day_time(m.first_ms), _day_time(m.last_ms), str(len(h.report.gaps)),
                      f"{h.report.missing_candles:,}", f"{zero:,} ({zero / h.report.rows:.1%})" if zero else "0",
                      f"[red]{errors}[/]" if errors else "0", h.source)
    return table


def _day_time(ts_ms: int | None) -> str:
    return "-" if ts_ms is None else fmt_ts(ts_ms).removesuffix(" UTC")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """`gauntlet emulator serve`'s flags."""

    candles: Path | None = None
    from_cache: str | None = None
    symbol: str = "BTC/USDT"
    timeframe: str = "1h"
    sample: bool = False
    port: int = 0
    now: str | None = None
    speed: float | None = None
    candle_every: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    key_can_withdraw: bool = False
    key_unrestricted_ip: bool = False
    balance: str = "USDT=10000"
    state: Path | None = None
    faults: tuple[str, ...] = ()


def serve_command(options: ServeOptions) -> None:
    from engine.venues.emulator import BinanceEmulator, Fault

    feeds = _serve_feeds(options)
    faults = [Fault.parse(text) for text in options.faults]
    emulator = BinanceEmulator(feeds, port=options.port, clock=_serve_clock(options, feeds),
                               trading=_serve_trading(options))
    emulator.inject(*faults)
    with emulator:
        served = ", ".join(f"{f.symbol} {f.timeframe} ({len(f.ts_ms):,} candles)" for f in feeds)
        console.print(f"Binance emulator on {emulator.base_url} serving {served}"
                      + (" [yellow]SYNTHETIC[/]" if options.sample else "") + "; Ctrl-C stops it")
        for line in _serve_summary(emulator, faults):
            console.print(line, highlight=False)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopped")


def _serve_feeds(options: ServeOptions) -> list[Feed]:
    from engine.ohlcv import load
    from engine.venues.emulator import Feed

    if [options.candles is not None, options.from_cache is not None, options.sample].count(True) != 1:
        raise ValueError("give one source of candles: --candles FILE, --from-cache EXCHANGE or --sample")
    if options.sample:
        return sample_feeds()
    if options.candles is not None:
        return [Feed.from_parquet(options.candles, options.symbol, options.timeframe)]
    return [Feed.from_frame(options.symbol, options.timeframe, load(options.from_cache, options.symbol, options.timeframe))]


def _serve_clock(options: ServeOptions, feeds: list[Feed]) -> Clock:
    """A manual clock standing at --now, or with --speed / --candle-every one that runs from --now (default: the
    first candle's open) on wall time, so other processes can make the same clock from the printed origin."""
    from engine.venues.clock import AcceleratedClock, HistoricalClock

    if options.speed is not None and options.candle_every is not None:
        raise ValueError("give --speed or --candle-every, not both")
    if options.speed is None and options.candle_every is None:
        return HistoricalClock(to_ms(options.now) if options.now else max(f.end_ms for f in feeds))
    start = to_ms(options.now) if options.now else min(int(f.ts_ms[0]) for f in feeds)
    origin = time.time()
    if options.speed is not None:
        return AcceleratedClock(start, options.speed, clock=time.time, origin_s=origin)
    every_s = _duration_s(options.candle_every or "")
    return AcceleratedClock.candle_every(start, min(f.step_ms for f in feeds), every_s, clock=time.time, origin_s=origin)


def _duration_s(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", text)
    if match is None:
        raise ValueError(f"--candle-every {text!r}: expected a duration such as 100ms or 0.5s")
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def _serve_trading(options: ServeOptions) -> TradingConfig:
    """The account: keys from the flags or the environment (the secret never printed), balances, state file."""
    from engine.settings import settings
    from engine.venues.emulator import ApiKey, TradingConfig, parse_balances

    env = settings()
    key = options.api_key or env.emulator_api_key
    secret = options.api_secret or (env.emulator_api_secret.get_secret_value() if env.emulator_api_secret else None)
    if (key is None) != (secret is None):
        raise ValueError("give both --api-key and --api-secret (or GAUNTLET_EMULATOR_API_KEY and _SECRET), or neither")
    keys = () if key is None else (ApiKey(key, secret or "", can_withdraw=options.key_can_withdraw,
                                          ip_restricted=not options.key_unrestricted_ip),)
    return TradingConfig(keys=keys, balances=parse_balances(options.balance), state_path=options.state)


def _serve_summary(emulator: BinanceEmulator, faults: list[Fault]) -> list[str]:
    from engine.venues.clock import AcceleratedClock

    clock = emulator.clock
    lines = [f"clock: {fmt_ts(clock.now_ms())}"]
    if isinstance(clock, AcceleratedClock):
        lines[0] += f", {clock.speed:g}x wall time (start_ms={clock.start_ms}, origin_s={clock.origin_s:.6f})"
    keys = list(emulator.keys.values())
    lines.append("signed endpoints: " + (", ".join(
        f"key {k.key} ({'can withdraw' if k.can_withdraw else 'no withdrawals'}, "
        f"{'IP-restricted' if k.ip_restricted else 'unrestricted IP'})" for k in keys)
        if keys else "off (give --api-key and --api-secret)"))
    rows = emulator.book.balance_rows(clock.now_ms())
    lines.append("balances: " + ", ".join(f"{asset}={free + locked:f}" for asset, free, locked in rows if free + locked))
    if emulator.trading.state_path is not None:
        book = emulator.book
        found = f"{len(book.orders)} order(s), {len(book.trades)} trade(s) found" if book.orders else "new"
        lines.append(f"state: {emulator.trading.state_path} ({found})")
    lines += [f"fault: {fault}" for fault in faults]
    return lines


def sample_feeds() -> list:
    from engine.ohlcv.sample import SYNTHETIC_SYMBOLS, synthetic_candles
    from engine.venues.emulator import Feed

    return [Feed.from_frame(symbol, "1h", synthetic_candles(symbol, "1h")) for symbol in SYNTHETIC_SYMBOLS]
