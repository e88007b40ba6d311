"""`gauntlet`: the command-line root. Commands import their layer only when they run, so `--help` is fast."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                  help="gauntlet: research crypto strategies, then run them through the gauntlet to paper and live.")
data_app = typer.Typer(no_args_is_help=True, help="The Parquet OHLCV cache: fetch, import, verify, list, repair.")
emulator_app = typer.Typer(no_args_is_help=True, help="The loopback Binance emulator.")
app.add_typer(data_app, name="data")
app.add_typer(emulator_app, name="emulator")


def _guarded(fn: Callable[[], T], ctx: typer.Context | None = None, code: int = 1) -> T:
    """One clear line instead of a traceback for errors a user can fix (GAUNTLET_DEBUG=1 shows it), naming the
    command's flags (`ctx`) rather than Python names; exits with `code`."""
    try:
        return fn()
    except (ValueError, LookupError, RuntimeError, OSError) as exc:
        if os.environ.get("GAUNTLET_DEBUG"):
            raise
        from rich.console import Console
        from rich.markup import escape

        from research.flags import command_flags, in_flags

        keys = getattr(exc, "names_keys", False)  # a spec file's keys are what the user must fix there
        text = str(exc) if keys else in_flags(str(exc), command_flags(ctx.command if ctx is not None else None))
        Console(stderr=True).print(f"[bold red]error:[/] {escape(text)}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(code) from None


@data_app.command("fetch")
def data_fetch(
    exchange: Annotated[str, typer.Argument(help="ccxt exchange id, e.g. binance")],
    symbol: Annotated[str, typer.Argument(help="market, e.g. BTC/USDT")],
    timeframe: Annotated[str, typer.Argument(help="candle length, e.g. 1m, 1h, 1d")],
    since: Annotated[str, typer.Option(help="first candle open time (UTC), e.g. 2024-01-01")],
    until: Annotated[Optional[str], typer.Option(help="stop before this open time (UTC); default: last closed candle")] = None,
    api_url: Annotated[Optional[str], typer.Option(help="send every API call here, e.g. the emulator http://127.0.0.1:N")] = None,
    store_as: Annotated[Optional[str], typer.Option(help="cache folder name if not the exchange id (e.g. synthetic)")] = None,
    rate_limit: Annotated[bool, typer.Option(help="respect the exchange's rate limit")] = True,
    max_attempts: Annotated[int, typer.Option(min=1, help="tries per request on retryable errors")] = 8,
    replace: Annotated[bool, typer.Option("--replace", help="take candles the exchange revised over the cached ones")] = False,
) -> None:
    """Fill the cache from an exchange through ccxt; a second run fetches only what is missing, and a damaged
    partition in the range is healed and fetched again."""
    from research.cli_data import fetch_command

    _guarded(lambda: fetch_command(exchange, symbol, timeframe, since, until, api_url, store_as, rate_limit, max_attempts,
                                   replace))


@data_app.command("import")
def data_import(
    files: Annotated[list[Path], typer.Argument(help="Binance kline dumps (.csv/.zip), plain CSV or Parquet")],
    exchange: Annotated[Optional[str], typer.Option(help="exchange folder (inferred for Binance dumps)")] = None,
    symbol: Annotated[Optional[str], typer.Option(help="market, e.g. BTC/USDT (inferred where possible)")] = None,
    timeframe: Annotated[Optional[str], typer.Option(help="candle length (inferred where possible)")] = None,
    repair: Annotated[Optional[list[str]], typer.Option(help="sort, dedupe, drop_invalid, drop_incomplete")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="overwrite cached candles whose values differ")] = False,
) -> None:
    """Import candle files into the cache; every file is checked before anything is written, and rows that
    would change cached candles are refused unless --replace."""
    from research.cli_data import import_command

    _guarded(lambda: import_command(files, exchange, symbol, timeframe, repair or [], replace))


@data_app.command("repair")
def data_repair(
    exchange: Annotated[str, typer.Argument(help="cache folder of the series, e.g. binance")],
    symbol: Annotated[str, typer.Argument(help="market, e.g. BTC/USDT")],
    timeframe: Annotated[str, typer.Argument(help="candle length, e.g. 1h")],
    api_url: Annotated[Optional[str], typer.Option(help="fetch lost ranges from here (default: where they came from)")] = None,
    rate_limit: Annotated[bool, typer.Option(help="respect the exchange's rate limit")] = True,
    max_attempts: Annotated[int, typer.Option(min=1, help="tries per request on retryable errors")] = 8,
) -> None:
    """Check every partition file of a series, rebuild a lost manifest from the intact ones, move damaged
    files aside (never deleted) and fetch their ranges again when the series came from an exchange."""
    from research.cli_data import repair_command

    if not _guarded(lambda: repair_command(exchange, symbol, timeframe, api_url, rate_limit, max_attempts)):
        raise typer.Exit(1)


@data_app.command("verify")
def data_verify(
    exchange: Annotated[Optional[str], typer.Argument(help="only this exchange")] = None,
    symbol: Annotated[Optional[str], typer.Argument(help="only this symbol")] = None,
    timeframe: Annotated[Optional[str], typer.Argument(help="only this timeframe")] = None,
    zero_volume_run: Annotated[int, typer.Option(min=1, help="report zero-volume runs at least this long")] = 5,
) -> None:
    """Check files and candles: gaps (as ranges), duplicates, order, OHLC sanity, zero volume, open candle."""
    from research.cli_data import verify_command

    ok = _guarded(lambda: verify_command(exchange, symbol, timeframe, zero_volume_run))
    if not ok:
        raise typer.Exit(1)


@data_app.command("list")
def data_list() -> None:
    """Every cached series with its coverage, gaps, source and fetch time."""
    from research.cli_data import list_command

    _guarded(list_command)


@emulator_app.command("serve")
def emulator_serve(
    candles: Annotated[Optional[Path], typer.Option(help="Parquet candles (shared/data format or cache schema)")] = None,
    symbol: Annotated[str, typer.Option(help="symbol to serve the candles as")] = "BTC/USDT",
    timeframe: Annotated[str, typer.Option(help="timeframe of the candles")] = "1h",
    from_cache: Annotated[Optional[str], typer.Option(help="serve --symbol/--timeframe from this cached exchange")] = None,
    sample: Annotated[bool, typer.Option(help="serve the synthetic sample market (BTC/USDT, ETH/USDT 1h)")] = False,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0 picks a free one)")] = 0,
    now: Annotated[Optional[str], typer.Option(help="the emulator clock (UTC); default: after the last candle, "
                                                    "or the first candle's open when accelerated")] = None,
    speed: Annotated[Optional[float], typer.Option(help="run the clock this many times faster than wall time")] = None,
    candle_every: Annotated[Optional[str], typer.Option(help="accelerate so a candle closes this often, e.g. 100ms")] = None,
    api_key: Annotated[Optional[str], typer.Option(help="API key for the signed endpoints (or GAUNTLET_EMULATOR_API_KEY)")] = None,
    api_secret: Annotated[Optional[str], typer.Option(help="its secret (or GAUNTLET_EMULATOR_API_SECRET)")] = None,
    key_can_withdraw: Annotated[bool, typer.Option("--key-can-withdraw", help="the key may withdraw")] = False,
    key_unrestricted_ip: Annotated[bool, typer.Option("--key-unrestricted-ip", help="the key has no IP whitelist")] = False,
    balance: Annotated[str, typer.Option(help="opening balances, e.g. USDT=10000,BTC=0")] = "USDT=10000",
    state: Annotated[Optional[Path], typer.Option(help="keep balances, orders and trades in this file across restarts")] = None,
    fault: Annotated[Optional[list[str]], typer.Option(help="inject a fault: KIND[,key=value...], e.g. invisible,delay_s=3")] = None,
) -> None:
    """Serve candles and a trading account over the Binance spot REST API on 127.0.0.1 until interrupted."""
    from research.cli_data import ServeOptions, serve_command

    options = ServeOptions(candles=candles, from_cache=from_cache, symbol=symbol, timeframe=timeframe, sample=sample,
                           port=port, now=now, speed=speed, candle_every=candle_every, api_key=api_key,
                           api_secret=api_secret, key_can_withdraw=key_can_withdraw,
                           key_unrestricted_ip=key_unrestricted_ip, balance=balance, state=state,
                           faults=tuple(fault or ()))
    _guarded(lambda: serve_command(options))


check_app = typer.Typer(no_args_is_help=True, help="Checks a strategy must pass before it is trusted.")
app.add_typer(check_app, name="check")

# Options the research commands share, declared once.
StrategyArg = Annotated[str, typer.Argument(help="built-in name (sma_cross), dotted module, or path/to/file.py")]
Symbols = Annotated[list[str], typer.Option("--symbol", help="market, e.g. BTC/USDT; repeat for several")]
Exchange = Annotated[str, typer.Option(help="cache folder of the candles")]
Timeframe = Annotated[str, typer.Option(help="candle length, e.g. 1h")]
Start = Annotated[Optional[str], typer.Option(help="first bar (UTC), e.g. 2024-01-01")]
End = Annotated[Optional[str], typer.Option(help="stop before this bar (UTC)")]
Params = Annotated[Optional[list[str]], typer.Option("--param", help="NAME=VALUE, or a grid NAME=START:STOP:STEP or "
                                                     "NAME=A,B,C; repeat for each parameter")]
Point = Annotated[Optional[list[str]], typer.Option("--param", help="NAME=VALUE, e.g. --param fast=10 --param slow=30; "
                                                    "repeat for each parameter (default: the strategy's defaults)")]
OldParams = Annotated[Optional[str], typer.Option("--params", hidden=True, help="old spelling: NAME=VALUE,...")]
FeeRate = Annotated[float, typer.Option(help="fee on notional per fill, e.g. 0.001")]
SlippageRate = Annotated[float, typer.Option(help="adverse price move per fill, e.g. 0.0005")]
InitCash = Annotated[float, typer.Option(help="starting cash in quote currency")]
MaxGap = Annotated[Optional[str], typer.Option(help="refuse data whose longest gap (missing candles) is longer, e.g. 2h")]
ExecutorName = Annotated[str, typer.Option("--executor", help="local (this machine) or dask (a Dask cluster: the one at "
                                           "--address, else a local one); the figures do not depend on it")]
Address = Annotated[Optional[str], typer.Option(help="the Dask scheduler, e.g. tcp://10.0.0.5:8786 (with --executor "
                                                     "dask; its workers must see the cache at the same path, or at "
                                                     "--cache URL)")]
Cache = Annotated[Optional[str], typer.Option(help="where the candles are read: a folder holding ohlcv/ (default: "
                                                   "GAUNTLET_DATA_DIR) or an fsspec URL of one, read only, e.g. "
                                                   "http://10.0.0.5:8000/data or s3://bucket/data; with --executor "
                                                   "dask every worker reads there too")]
Workers = Annotated[Optional[int], typer.Option(min=1, help="cores to use, or the workers of a local Dask cluster "
                                                            "(default: all); the figures do not depend on it")]


def _executor(name: str, address: str | None, workers: int | None):
    from research.executors import ExecutorOptions

    return ExecutorOptions(name, address, workers)


@app.command("sweep")
def sweep(
    ctx: typer.Context,
    strategy: StrategyArg,
    symbol: Symbols,
    exchange: Exchange = "binance",
    timeframe: Timeframe = "1h",
    start: Start = None,
    end: End = None,
    param: Params = None,
    fee_rate: FeeRate = 0.001,
    slippage_rate: SlippageRate = 0.0005,
    init_cash: InitCash = 10_000.0,
    objective: Annotated[str, typer.Option(help="metric that ranks combinations")] = "sharpe",
    engine: Annotated[str, typer.Option(help="auto (fused kernel when the strategy has one) or vectorbt")] = "auto",
    top: Annotated[int, typer.Option(help="rows to print")] = 10,
    notebook: Annotated[bool, typer.Option(help="also execute notebooks/sweep.ipynb into the run folder")] = False,
    max_gap: MaxGap = None,
    workers: Workers = None,
    executor: ExecutorName = "local",
    address: Address = None,
    cache: Cache = None,
) -> None:
    """Sweep a parameter grid over cached candles; writes reports/<run-id>/ and prints the best rows."""
    from research.cli_research import sweep_command

    _guarded(lambda: sweep_command(strategy, symbol, exchange, timeframe, start, end, param or [], fee_rate,
                                   slippage_rate, init_cash, objective, engine, top, notebook, max_gap,
                                   _executor(executor, address, workers), cache), ctx)


@app.command("walkforward")
def walkforward(
    ctx: typer.Context,
    strategy: StrategyArg,
    symbol: Symbols,
    exchange: Exchange = "binance",
    timeframe: Timeframe = "1h",
    start: Start = None,
    end: End = None,
    param: Params = None,
    folds: Annotated[Optional[int], typer.Option(min=1, help="number of folds")] = None,
    mode: Annotated[str, typer.Option(help="rolling (fixed in-sample length) or anchored (from the first bar)")] = "rolling",
    is_size: Annotated[Optional[str], typer.Option(help="in-sample size: bars (2000) or time (180D)")] = None,
    oos_size: Annotated[Optional[str], typer.Option(help="out-of-sample size: bars or time (30D)")] = None,
    purge: Annotated[str, typer.Option(help="gap between in-sample and out-of-sample: bars or time")] = "0",
    embargo: Annotated[str, typer.Option(help="bars or time after an OOS window no later IS may start in")] = "0",
    objective: Annotated[str, typer.Option(help="metric that picks the in-sample winner")] = "sharpe",
    min_trades: Annotated[int, typer.Option(help="in-sample round trips a combination needs to be picked")] = 0,
    fee_rate: FeeRate = 0.001,
    slippage_rate: SlippageRate = 0.0005,
    init_cash: InitCash = 10_000.0,
    engine: Annotated[str, typer.Option(help="auto or vectorbt")] = "auto",
    notebook: Annotated[bool, typer.Option(help="also execute notebooks/walkforward.ipynb into the run folder")] = False,
    max_gap: MaxGap = None,
    workers: Workers = None,
    executor: ExecutorName = "local",
    address: Address = None,
    cache: Cache = None,
) -> None:
    """Walk-forward validation: sweep in-sample, trade the pick out-of-sample, fold after fold."""
    from research.cli_research import WalkForwardArgs, walkforward_command

    args = WalkForwardArgs(strategy, symbol, exchange, timeframe, start, end, param or [], folds, mode, is_size,
                           oos_size, purge, embargo, objective, min_trades, fee_rate, slippage_rate, init_cash, engine,
                           notebook, max_gap, cache)
    _guarded(lambda: walkforward_command(args, _executor(executor, address, workers)), ctx)


@app.command("replay")
def replay_command(
    ctx: typer.Context,
    strategy: Annotated[Optional[str], typer.Argument(help="strategy (default: the one of --from-run)")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", help="NAME=VALUE, e.g. --param fast=10 --param "
                                                      "slow=30 (with --from-run: overrides those parameters)")] = None,
    params: OldParams = None,
    from_run: Annotated[Optional[str], typer.Option(help="reproduce a run: a replay, or the candidate of a sweep or "
                                                         "walk-forward, with its window, costs and realism")] = None,
    window: Annotated[Optional[str], typer.Option(help="walk-forward runs: oos (its out-of-sample windows, the "
                                                       "default) or all (its whole span)")] = None,
    use_recorded_source: Annotated[bool, typer.Option(help="replay the copy of the strategy's source kept in the "
                                                           "run folder")] = False,
    exchange: Annotated[Optional[str], typer.Option(help="cache folder [default: the run's, else binance]")] = None,
    symbol: Annotated[Optional[str], typer.Option(help="market [default: the run's first]")] = None,
    timeframe: Annotated[Optional[str], typer.Option(help="candle length [default: the run's, else 1h]")] = None,
    start: Start = None,
    end: End = None,
    fee_rate: Annotated[Optional[float], typer.Option(help="taker fee on notional [default: 0.001]")] = None,
    maker_fee_rate: Annotated[Optional[float], typer.Option(help="fee of resting limit orders [default: taker]")] = None,
    slippage_rate: Annotated[Optional[float], typer.Option(help="adverse price move per fill [default: 0.0005]")] = None,
    init_cash: Annotated[Optional[float], typer.Option(help="starting cash in quote [default: 10000]")] = None,
    ideal: Annotated[Optional[bool], typer.Option("--ideal/--no-ideal", help="every realism feature off and no risk "
                                                  "rules: exactly the sweep's assumptions (--no-ideal: all on)")] = None,
    exchange_rules: Annotated[Optional[bool], typer.Option("--exchange-rules/--no-exchange-rules",
                                                           help="lot step, tick, min amount and min notional")] = None,
    partial_fills: Annotated[Optional[bool], typer.Option("--partial-fills/--no-partial-fills",
                                                          help="cap each order at a share of the bar's volume")] = None,
    participation_cap: Annotated[Optional[float], typer.Option(help="share of a bar's volume one order may take "
                                                                    "[default: 0.1]")] = None,
    impact_rate: Annotated[Optional[float], typer.Option(help="extra slippage per unit of participation")] = None,
    latency_bars: Annotated[Optional[int], typer.Option(help="bars after the next open before an order is live")] = None,
    borrow_rate: Annotated[Optional[float], typer.Option(help="a short's borrow interest, a year's rate [default: "
                                                              "0.10]")] = None,
    vectorbt_stops: Annotated[Optional[bool], typer.Option("--vectorbt-stops/--no-vectorbt-stops",
                                                           help="vectorbt's stop conventions (the sweep's)")] = None,
    risk_rules: Annotated[Optional[bool], typer.Option("--risk-rules/--no-risk-rules",
                                                       help="check the risk limits before every entry")] = None,
    sizing: Annotated[Optional[str], typer.Option(help="all, fixed_fraction, atr or half_kelly [default: all]")] = None,
    fraction: Annotated[Optional[float], typer.Option(help="equity share for fixed_fraction (and half_kelly's "
                                                           "start)")] = None,
    risk_per_trade: Annotated[Optional[float], typer.Option(help="equity share risked over atr_mult ATRs")] = None,
    atr_mult: Annotated[Optional[float], typer.Option(help="ATRs between entry and the risk, for atr sizing")] = None,
    kelly_lookback: Annotated[Optional[int], typer.Option(help="round trips half_kelly measures")] = None,
    max_position_rate: Annotated[Optional[float], typer.Option("--max-position-rate", "--max-position-pct",
                                                               help="largest position as a share of equity")] = None,
    max_exposure_rate: Annotated[Optional[float], typer.Option(help="all positions as a share of equity")] = None,
    max_positions: Annotated[Optional[int], typer.Option(help="concurrent positions")] = None,
    max_drawdown_rate: Annotated[Optional[float], typer.Option("--max-drawdown-rate", "--max-drawdown-pct",
                                                               help="no entries this far below peak equity")] = None,
    daily_loss_rate: Annotated[Optional[float], typer.Option("--daily-loss-rate", "--daily-loss-pct",
                                                             help="no entries after losing this much in a UTC day")] = None,
    loss_streak: Annotated[Optional[int], typer.Option(help="losing round trips in a row that start a cooldown")] = None,
    cooldown_bars: Annotated[Optional[int], typer.Option(help="bars without entries after a losing streak")] = None,
    require_stop: Annotated[Optional[bool], typer.Option("--require-stop/--no-require-stop",
                                                         help="refuse entries that carry no stop-loss")] = None,
    config: Annotated[Optional[Path], typer.Option(help="replay the spec in this TOML file (e.g. from "
                                                        "--save-config); options override its fields")] = None,
    save_config: Annotated[Optional[Path], typer.Option(help="also write the resolved spec as TOML here")] = None,
    parity: Annotated[bool, typer.Option(help="also prove the ideal replay equals the vectorbt sweep")] = False,
    notebook: Annotated[bool, typer.Option(help="also execute notebooks/tearsheet.ipynb into the run folder")] = False,
    max_gap: MaxGap = None,
    bar_by_bar: Annotated[bool, typer.Option("--bar-by-bar", help="drive the loop one closed candle at a time, as "
                                             "paper and live do (same result; slower)")] = False,
) -> None:
    """Replay a strategy through the event loop, or reproduce a run (--from-run: its whole spec; each option
    given overrides one field, and the replay says which); writes orders, fills, round trips, equity, metrics,
    spec.toml and a QuantStats tearsheet (quantstats.html; --notebook adds tearsheet.ipynb and its tearsheet.html) to
    reports/<run-id>/."""
    from research.cli_replay import replay_command as run
    from research.cli_research import point_options

    ok = _guarded(lambda: run(point_options(ctx.params)), ctx)
    if not ok:
        raise typer.Exit(1)


@check_app.command("causality")
def check_causality(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Argument(help="built-in name, dotted module, or path/to/file.py")],
    param: Point = None,
    params: OldParams = None,
    exchange: Annotated[Optional[str], typer.Option(help="cached candles to test on (default: the synthetic sample)")] = None,
    symbol: Annotated[str, typer.Option(help="market of the cached candles")] = "BTC/USDT",
    timeframe: Annotated[str, typer.Option(help="timeframe of the cached candles")] = "1h",
    cuts: Annotated[int, typer.Option(min=1, help="cut points to sample")] = 50,
) -> None:
    """Look-ahead and warm-up check: exits 1 naming the first violating bar and column."""
    from research.cli_research import causality_command, point_specs

    ok = _guarded(lambda: causality_command(strategy, point_specs(param, params), exchange, symbol, timeframe, cuts), ctx)
    if not ok:
        raise typer.Exit(1)


@app.command("demo")
def demo() -> None:
    """The offline tour on the synthetic sample market, the whole gauntlet: emulator -> ccxt -> cache -> verify ->
    sweep -> walk-forward -> replay -> promote to paper -> the paper runner -> status -> drift -> live refused."""
    from research.demo import run_demo

    _guarded(run_demo)


runs_app = typer.Typer(no_args_is_help=True, help="The runs under reports/: list, show, compare.")
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list(
    strategy: Annotated[Optional[str], typer.Option(help="only runs of this strategy")] = None,
    symbol: Annotated[Optional[str], typer.Option(help="only runs on this market, e.g. BTC/USDT")] = None,
    kind: Annotated[Optional[str], typer.Option(help="only sweep, walkforward or replay runs")] = None,
) -> None:
    """Every run, newest first (and reports/index.html rebuilt: deleted runs drop out)."""
    from research.cli_runs import list_command

    _guarded(lambda: list_command(strategy, symbol, kind))


@runs_app.command("show")
def runs_show(run: Annotated[str, typer.Argument(help="run id")]) -> None:
    """A run's spec (the TOML a replay takes), its figures and its files."""
    from research.cli_runs import show_command

    _guarded(lambda: show_command(run))


@runs_app.command("compare")
def runs_compare(runs: Annotated[list[str], typer.Argument(help="two or more run ids")]) -> None:
    """Runs side by side: spec fields and figures, the rows that differ in bold."""
    from research.cli_runs import compare_command

    _guarded(lambda: compare_command(runs))


strategy_app = typer.Typer(no_args_is_help=True, help="Strategies: the built-ins, and a template for your own.")
app.add_typer(strategy_app, name="strategy")


@strategy_app.command("new")
def strategy_new(
    name: Annotated[str, typer.Argument(help="module name, e.g. my_breakout (writes my_breakout.py)")],
    directory: Annotated[Path, typer.Option(help="folder to write it in")] = Path("."),
) -> None:
    """Write a commented strategy file that passes `gauntlet check causality` as written."""
    from research.cli_strategy import new_command

    _guarded(lambda: new_command(name, directory))


@strategy_app.command("list")
def strategy_list() -> None:
    """The built-in strategies with their parameters and defaults."""
    from research.cli_strategy import list_command

    _guarded(list_command)


schedule_app = typer.Typer(no_args_is_help=True, help="Scheduled walk-forward reports (a schedule.toml of jobs).")
app.add_typer(schedule_app, name="schedule")
ScheduleFile = Annotated[Path, typer.Option("--file", help="the jobs file (see schedule.example.toml)")]


@schedule_app.command("run")
def schedule_run(
    file: ScheduleFile = Path("schedule.toml"),
    once: Annotated[Optional[str], typer.Option(help="run this job now and exit (for cron)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="jobs that may run at once")] = 2,
) -> None:
    """Run the jobs on their cron times (UTC) in the foreground until Ctrl-C: refresh the cache, walk forward
    with the notebook, compare with the job's previous run, publish the report."""
    from research.cli_schedule import run_command

    if not _guarded(lambda: run_command(file, once, workers)):
        raise typer.Exit(1)


@schedule_app.command("status")
def schedule_status(file: ScheduleFile = Path("schedule.toml")) -> None:
    """Each job's last run, its result and its next time."""
    from research.cli_schedule import status_command

    _guarded(lambda: status_command(file))


from research import cli_promote  # noqa: E402 - typer only; the bodies load when a command runs

app.command("promote")(cli_promote.promote)
app.command("deployments")(cli_promote.deployments)

from research import cli_run  # noqa: E402 - typer only; the engine loads when a command runs

app.command("run")(cli_run.run)
app.command("status")(cli_run.status)
app.command("stop")(cli_run.stop)
app.command("resume")(cli_run.resume)
app.add_typer(cli_run.journal_app, name="journal")

from research import cli_drift  # noqa: E402 - typer only; the engine loads when the command runs

app.command("drift")(cli_drift.drift)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"gauntlet {version('gauntlet')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="print the version and exit")] = None,
) -> None:
    """gauntlet: research crypto strategies, then run them through the gauntlet to paper and live."""


if __name__ == "__main__":
    app()
