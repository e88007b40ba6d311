"""The bodies of `gauntlet sweep`, `gauntlet walkforward` and `gauntlet check causality`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from engine.execution import Costs
from research.metrics_nb import METRICS

console = Console(width=None if sys.stdout.isatty() else 140)


def progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("combinations"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console)


def sweep_command(strategy: str, symbols: Sequence[str], exchange: str, timeframe: str, start: str | None,
                  end: str | None, params: Sequence[str], fee_rate: float, slippage_rate: float, init_cash: float,
                  objective: str, engine: str, top: int, notebook: bool) -> None:
    from research.sweep import SweepSpec
    from research.sweep_run import run_sweep, write_sweep

    spec = SweepSpec(strategy, exchange, tuple(symbols), timeframe, start, end, tuple(params),
                     Costs(fee_rate, slippage_rate, init_cash), engine, objective)
    with progress_bar() as bar:
        def tracker(symbol: str):
            task = bar.add_task(f"sweep {symbol}", total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        outcome = run_sweep(spec, progress=tracker)
    folder = write_sweep(outcome, sys.argv)
    if notebook:
        from research.notebooks import run_notebook

        run_notebook("sweep", folder, {"run_id": folder.name})
    console.print(f"run [bold]{folder.name}[/]  ->  {folder}", highlight=False)
    console.print(results_table(outcome.results, list(outcome.strategy.param_types), top))
    for symbol, found in outcome.evidence.items():
        console.print(f"{symbol}: best {found['best']}  " + evidence_line(found), highlight=False)


def evidence_line(found: dict) -> str:
    dsr = f"DSR {found['dsr']:.3f} over {found['trials']} trials" if found.get("dsr") is not None else \
        f"DSR n/a ({found.get('dsr_note', 'one trial')})"
    pbo = f"PBO {found['pbo']:.2f} ({found['pbo_splits']} blocks of {found['days']} days)" \
        if found.get("pbo") is not None else f"PBO n/a ({found.get('pbo_note', '')})"
    return f"{dsr}; {pbo}"


def results_table(results, param_names: list[str], top: int) -> Table:
    table = Table("symbol", *param_names, *METRICS, title=f"top {top} per symbol", title_justify="left")
    for _, row in results.groupby("symbol", sort=False).head(top).iterrows():
        cells = [str(row["symbol"]), *(str(row[n]) for n in param_names)]
        cells += [f"{row[m]:.4g}" if m != "trades" else str(int(row[m])) for m in METRICS]
        table.add_row(*cells)
    return table


def causality_command(strategy: str, params: str | None, exchange: str | None, symbol: str, timeframe: str,
                      cuts: int) -> bool:
    from engine.bars import Bars
    from engine.causality import check_causality
    from engine.ohlcv import load
    from engine.ohlcv.sample import synthetic_candles
    from engine.strategy import load_strategy
    from research.grid import parse_params

    loaded = load_strategy(strategy)
    p = parse_params(loaded, params or "")
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
