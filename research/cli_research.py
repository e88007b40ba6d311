"""The bodies of `gauntlet sweep`, `gauntlet walkforward` and `gauntlet check causality`."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.markup import escape
from rich.table import Table

from engine.core.costs import Costs
from engine.sim.metrics_nb import METRICS
from research.console import console

if TYPE_CHECKING:
    from research.executors import Executor, ExecutorOptions
    from research.walkforward import WalkForwardSpec


def progress_bar(unit: str = "combinations") -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console)


@contextmanager
def step(description: str) -> Iterator[None]:
    """A spinner and the elapsed time for a long step with nothing to count (a replay, a tearsheet), gone when
    the step ends."""
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        bar.add_task(description, total=None)
        yield


def sweep_command(strategy: str, symbols: Sequence[str], exchange: str, timeframe: str, start: str | None,
                  end: str | None, params: Sequence[str], fee_rate: float, slippage_rate: float, init_cash: float,
                  objective: str, engine: str, top: int, notebook: bool, max_gap: str | None = None,
                  executor: ExecutorOptions | None = None, cache: str | None = None) -> None:
    from engine.ohlcv import Store
    from research.executors import ExecutorOptions, open_executor
    from research.gaps import describe_record
    from research.sweep import SweepSpec
    from research.sweep_run import run_sweep, write_sweep

    spec = SweepSpec(strategy, exchange, tuple(symbols), timeframe, start, end, tuple(params),
                     Costs(fee_rate, slippage_rate, init_cash), engine, objective, max_gap)
    store = Store(cache)  # a URL nothing here reads is refused before a cluster starts
    with open_executor(executor or ExecutorOptions()) as runner:
        with progress_bar(runner.unit) as bar:
            outcome = run_sweep(spec, store, progress=_tracker(bar, runner), executor=runner)
    folder = write_sweep(outcome, sys.argv, extra=notebook_step("sweep") if notebook else None)
    console.print(f"run [bold]{folder.name}[/]  ->  {folder}", highlight=False)
    console.print(results_table(outcome.results, list(outcome.strategy.param_types), top))
    for symbol, found in outcome.evidence.items():
        console.print(f"{symbol}: candidate {found['best']}  " + evidence_line(found), highlight=False)
        console.print(f"{symbol}: " + describe_record(found["gaps"]), highlight=False)
    report_failures(outcome.failed)


def _tracker(bar: Progress, runner: Executor):
    """A progress factory for `run_sweep`/`run_walkforward`: one bar per phase; above the first, the link to
    the cluster's dashboard when there is one (asking for it starts a Dask executor's cluster, which a run
    does only once its input is valid)."""
    shown = []

    def tracker(description: str):
        if not shown and (link := runner.dashboard):
            bar.console.print(f"Dask dashboard: {link}", highlight=False)
        shown.append(description)
        task = bar.add_task(description, total=None)
        return lambda done, total: bar.update(task, completed=done, total=total)

    return tracker


def report_failures(failed: list[dict]) -> None:
    """Parameter sets that failed on every try: named, never dropped in silence (run.json has them too)."""
    from research.executors import failure_text

    if failed:
        console.print(f"[yellow]warning:[/] {escape(failure_text(failed))}", highlight=False)


@dataclass(frozen=True)
class WalkForwardArgs:
    strategy: str
    symbols: Sequence[str]
    exchange: str
    timeframe: str
    start: str | None
    end: str | None
    params: Sequence[str]
    folds: int | None
    mode: str
    is_size: str | None
    oos_size: str | None
    purge: str
    embargo: str
    objective: str
    min_trades: int
    fee_rate: float
    slippage_rate: float
    init_cash: float
    engine: str
    notebook: bool
    max_gap: str | None = None
    cache: str | None = None  # a folder or an fsspec URL (None: GAUNTLET_DATA_DIR); where, never what, is read


def size_of(text: str | None) -> int | str | None:
    """`2000` counts bars, `180D` is a duration."""
    return int(text) if text is not None and text.strip().isdigit() else text


def walkforward_spec(a: WalkForwardArgs) -> WalkForwardSpec:
    """The spec a walk-forward runs, from its options: one translation for `gauntlet walkforward` and for the
    jobs of `gauntlet schedule`."""
    from research.splits import SplitSpec
    from research.sweep import SweepSpec
    from research.walkforward import WalkForwardSpec

    sweep = SweepSpec(a.strategy, a.exchange, tuple(a.symbols), a.timeframe, a.start, a.end, tuple(a.params),
                      Costs(a.fee_rate, a.slippage_rate, a.init_cash), a.engine, a.objective, a.max_gap)
    splits = SplitSpec(n_folds=a.folds, mode=a.mode, is_size=size_of(a.is_size), oos_size=size_of(a.oos_size),
                       purge=size_of(a.purge) or 0, embargo=size_of(a.embargo) or 0)
    return WalkForwardSpec(sweep, splits, a.min_trades)


def walkforward_command(a: WalkForwardArgs, executor: ExecutorOptions | None = None) -> None:
    from engine.ohlcv import Store
    from research.executors import ExecutorOptions, open_executor
    from research.gaps import describe_record
    from research.walkforward import fold_table, run_walkforward
    from research.walkforward_run import plan_frame, write_walkforward

    spec, store = walkforward_spec(a), Store(a.cache)
    with open_executor(executor or ExecutorOptions()) as runner:
        with progress_bar(runner.unit) as bar:
            outcome = run_walkforward(spec, store, progress=_tracker(bar, runner), executor=runner)
    console.print(frame_table(plan_frame(outcome), "split plan"))
    extra = notebook_step("walkforward") if a.notebook else None
    folder = write_walkforward(outcome, sys.argv, extra=extra)
    console.print(f"run [bold]{folder.name}[/]  ->  {folder}", highlight=False)
    names = list(outcome.strategy.param_types)
    shown = fold_table(outcome.folds, names)[["symbol", "fold", *names, "is_sharpe", "oos_sharpe", "oos_total_return",
                                              "oos_max_drawdown", "oos_trades"]]
    console.print(frame_table(shown, "folds"))
    for symbol, summary in outcome.summary.items():
        eff, oos = summary["efficiency"], summary["stitched_oos"]
        console.print(f"{symbol}: stitched OOS sharpe {oos['sharpe']:.3f}, return {oos['total_return']:.2%}, max "
                      f"drawdown {oos['max_drawdown']:.2%}; {wfe_text(eff)}; " + evidence_line(summary["evidence"]),
                      highlight=False)
        console.print(f"{symbol}: " + describe_record(summary["gaps"]), highlight=False)
        console.print(f"{symbol}: {summary['verdict']['text']}", style="green" if summary["verdict"]["promote"] else "red",
                      highlight=False)
    report_failures(outcome.failed)


def wfe_text(eff: dict) -> str:
    """WFE as a ratio only where the in-sample figure is positive; otherwise why not."""
    if eff.get("wfe_return") is None:
        return f"WFE n/a ({eff.get('wfe_note', 'not computed')})"
    sharpe = f"{eff['wfe_sharpe']:.2f}" if eff.get("wfe_sharpe") is not None else "n/a"
    return f"WFE {eff['wfe_return']:.2f} (sharpe {sharpe})"


def notebook_step(name: str):
    """Execute a notebook template into the (staging) run folder, where it reads the run's files. A notebook
    that fails keeps the run: the executed copy shows the failing cell."""
    from papermill import PapermillExecutionError

    from research.notebooks import run_notebook

    def step(folder) -> None:
        try:
            with progress_bar("cells") as bar:
                task = bar.add_task(f"notebook {name}.ipynb", total=None)
                run_notebook(name, folder, {"run_dir": "."},  # the kernel runs inside the run folder
                             on_cell=lambda done, total: bar.update(task, completed=done, total=total))
        except PapermillExecutionError as exc:
            console.print(f"[yellow]warning:[/] {name}.ipynb failed at cell {exc.exec_count}: {exc.ename}: "
                          f"{exc.evalue}; the run is kept, and {name}.ipynb shows the failing cell", highlight=False)

    return step


def frame_table(frame, title: str) -> Table:
    table = Table(*map(str, frame.columns), title=title, title_justify="left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def evidence_line(found: dict) -> str:
    from research.overfitting import evidence_text

    return evidence_text(found)


def results_table(results, param_names: list[str], top: int) -> Table:
    table = Table("symbol", *param_names, *METRICS, title=f"top {top} per symbol", title_justify="left")
    for _, row in results.groupby("symbol", sort=False).head(top).iterrows():
        cells = [str(row["symbol"]), *(str(row[n]) for n in param_names)]
        cells += [f"{row[m]:.4g}" if m != "trades" else str(int(row[m])) for m in METRICS]
        table.add_row(*cells)
    return table


def point_specs(param: Sequence[str] | None, params: str | None) -> list[str]:
    """`--param` pairs plus the old `--params a=1,b=2` spelling, which still works and prints a one-line hint."""
    from research.grid import legacy_hint

    if params is None:
        return list(param or [])
    Console(stderr=True).print(legacy_hint(params), style="yellow", highlight=False, markup=False, soft_wrap=True)
    return [*(param or []), params]


def point_options(options: dict) -> dict:
    """Replay's options with its `--param` pairs (and the old `--params`) as the one `params` text a replay
    request takes."""
    from research.grid import point_text

    specs = point_specs(options.get("param"), options.get("params"))
    return {**{k: v for k, v in options.items() if k != "param"}, "params": point_text(specs) if specs else None}


def causality_command(strategy: str, params: Sequence[str], exchange: str | None, symbol: str, timeframe: str,
                      cuts: int) -> bool:
    from engine.strategy.bars import Bars
    from engine.strategy.causality import check_causality
    from engine.ohlcv import load
    from engine.ohlcv.sample import synthetic_candles
    from engine.strategy.contract import load_strategy
    from research.grid import parse_params

    loaded = load_strategy(strategy)
    p = parse_params(loaded, params)
    frame = load(exchange, symbol, timeframe) if exchange else synthetic_candles(symbol, timeframe, days=180)
    source = f"{exchange} {symbol} {timeframe}" if exchange else f"the SYNTHETIC sample ({symbol} {timeframe})"
    violations = check_causality(loaded, Bars.from_frame(frame), p, cuts=cuts)
    if violations:
        console.print(f"[red]FAIL[/] {loaded.name} {p}: {len(violations)} violation(s) on {source}; first: "
                      f"{violations[0].describe()}", highlight=False)
        return False
    console.print(f"[green]ok[/] {loaded.name} {p}: causal and warm-up sufficient ({p.warmup} bars) at {cuts} cut "
                  f"points of {len(frame):,} bars of {source}", highlight=False)
    return True
