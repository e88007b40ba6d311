"""`make demo`: the offline tour on the synthetic sample market, the whole gauntlet.

Starts the loopback Binance emulator on the SYNTHETIC sample with its clock at the research cut (`CUT`),
fetches two symbols through the real ccxt client into a fresh `data/ohlcv/synthetic/` (a 429 and a cut-off
body thrown in, to show the retries), fetches again to show that only new candles are asked for, verifies the
cache, then sweeps the SMA crossover grid, walks it forward, and replays the candidate through the event loop
with parity against the sweep, writing the three runs to `reports/`. Then the paper part (`demo_paper`): the
candidate promoted to paper, the runner trading it against the emulator on an accelerated clock over the
synthetic candles after the cut, its status, its drift against replay, and `--to live` refused.
"""

from __future__ import annotations

import json
import shutil

from engine.logs import configure_logging
from engine.ohlcv import SeriesKey, Store, to_ms
from engine.ohlcv.fetch import FetchPlan, RetryPolicy
from engine.ohlcv.inventory import inspect
from engine.ohlcv.quality import fmt_ts
from engine.ohlcv.sample import SYNTHETIC_EXCHANGE
from engine.venues.ccxt_client import make_exchange
from engine.venues.emulator import BinanceEmulator, Fault
from research.cli_data import fetch_series, sample_feeds, summary_table
from research.console import console

# The research sees the synthetic market up to here (a month's start, so the candles the paper runner adds to
# the cache afterwards go to a partition of their own and the runs' data fingerprints stay valid); the runner
# trades the candles after it, which the emulator serves on an accelerated clock.
CUT = "2024-12-01"


def run_demo() -> None:
    configure_logging()
    store = Store()
    shutil.rmtree(store.root / "ohlcv" / SYNTHETIC_EXCHANGE, ignore_errors=True)
    feeds = sample_feeds()
    step = feeds[0].end_ms - int(feeds[0].ts_ms[-1])
    now = to_ms(CUT) - step // 2  # half-way through the candle before the cut: it must not be stored yet
    console.rule("[bold]gauntlet demo[/] — [yellow]SYNTHETIC sample market[/] (invented data, not a market record)")
    policy = RetryPolicy(base_delay_s=0.2)
    with BinanceEmulator(feeds, now_ms=now) as emulator:
        console.print(f"emulator on {emulator.base_url}, clock {fmt_ts(now)}; ccxt binance client pointed at it")
        client = make_exchange("binance", api_url=emulator.base_url)
        emulator.inject(Fault("rate_limit", retry_after_s=1, path="/api/v3/klines"), Fault("truncate", path="/api/v3/klines"))
        plans = [FetchPlan(SeriesKey(SYNTHETIC_EXCHANGE, f.symbol, f.timeframe), int(f.ts_ms[0])) for f in feeds]
        for plan in plans:
            fetch_series(client, store, plan, policy)
        console.print("[bold]again[/], one hour later on the emulator clock: only the candle that closed is fetched")
        emulator.clock.advance(step)
        for plan in plans:
            result = fetch_series(client, store, plan, policy)
            console.print(f"  {plan.key}: {result.candles} new candle(s), {result.requests} request(s)", highlight=False)
    healths = [inspect(store, plan.key) for plan in plans]
    console.print(summary_table(healths))
    for health in healths:
        gaps = ", ".join(f"{fmt_ts(g.start_ms)} → {fmt_ts(g.end_ms)} ({g.count})" for g in health.report.gaps)
        console.print(f"{health.key} gaps left as gaps: {gaps or 'none'}", highlight=False)
    console.print(f"cache: {store.root / 'ohlcv' / SYNTHETIC_EXCHANGE}  — read it with "
                  f"engine.ohlcv.load('{SYNTHETIC_EXCHANGE}', 'BTC/USDT', '1h')")
    walkforward = research_tour(store)
    from research.demo_paper import paper_tour

    paper_tour(store, walkforward, feeds)


def research_tour(store: Store) -> str:
    """A sweep and a walk-forward on the synthetic BTC/USDT hours up to the cut, as `gauntlet sweep` /
    `walkforward` run them, and the candidate's replay; returns the walk-forward's run id."""
    from research.replay_run import run_replay, write_replay
    from research.replay_spec import ReplayRequest, resolve
    from research.splits import SplitSpec
    from research.sweep import SweepSpec
    from research.sweep_run import run_sweep, write_sweep
    from research.walkforward import WalkForwardSpec, run_walkforward
    from research.walkforward_run import write_walkforward

    console.rule(f"[bold]sweep[/]: sma_cross, 355 combinations, SYNTHETIC BTC/USDT 1h before {CUT}")
    sweep = SweepSpec("sma_cross", SYNTHETIC_EXCHANGE, ("BTC/USDT",), "1h", end=CUT)
    folder = write_sweep(run_sweep(sweep, store), ["gauntlet", "demo"])
    console.print(f"run {folder.name}: {json.loads((folder / 'run.json').read_text())['headline']}", highlight=False)
    console.rule("[bold]walk-forward[/]: 4 rolling folds, 180-day in-sample, 90-day out-of-sample, 1-day purge")
    splits = SplitSpec(n_folds=4, mode="rolling", is_size="180D", oos_size="90D", purge="1D")
    folder = write_walkforward(run_walkforward(WalkForwardSpec(sweep, splits, min_trades=3), store), ["gauntlet", "demo"])
    walkforward = folder.name
    console.print(f"run {folder.name}: {json.loads((folder / 'run.json').read_text())['headline']}", highlight=False)
    console.rule("[bold]replay[/]: the candidate through the event loop, with parity against the sweep")
    resolved = resolve(ReplayRequest(from_run=folder.name, ideal=False))  # realistic, over the OOS windows
    outcome = run_replay(resolved.spec, store, parity=True, strategy=resolved.strategy)
    folder = write_replay(outcome, ["gauntlet", "demo"])
    console.print(f"run {folder.name}: {json.loads((folder / 'run.json').read_text())['headline']}", highlight=False)
    console.print(f"{outcome.parity.describe()}; QuantStats tearsheet: {folder / 'quantstats.html'}", highlight=False)
    console.print(f"reports: {folder.parent / 'index.html'} (add --notebook to gauntlet sweep/walkforward for HTML notebooks)")
    return walkforward
