"""The demo's second half: the walk-forward's candidate through the rest of the gauntlet, offline.

Promoted to paper with its gates shown (the SYNTHETIC market's candidate fails some of them: it is promoted
anyway with `--force`, which the deployment records, and the console says so), traded by the paper runner
against the emulator on an accelerated clock over the synthetic candles after the research cut, then
`gauntlet status`, `gauntlet drift` (a paper run on candles that came on time is identical to replay), and
`promote --to live` refused with its reasons. Runnable again and again: each run promotes the next version of
the demo's deployment and starts its journal afresh (only the demo's own journal is removed).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from rich.markup import escape

from engine.live.deployment import Deployment
from engine.live.feed import FeedConfig
from engine.live.history import journal_path
from engine.live.journal import Journal
from engine.live.killswitch import KillSwitch
from engine.live.runner import Runner, RunnerConfig
from engine.logs import configure_logging
from engine.ohlcv import Store, to_ms
from engine.ohlcv.quality import fmt_ts
from engine.settings import settings
from engine.venues.clock import AcceleratedClock
from engine.venues.emulator import BinanceEmulator
from research.console import console
from research.demo import CUT
from research.live_gates import LiveSeams
from research.promote import promote
from research.promote_view import PromoteArgs, gate_table, request_of

__all__ = ["CANDLES", "DEMO_DEPLOYMENT", "paper_tour"]

DEMO_DEPLOYMENT = "demo-sma_cross-BTC-USDT-1h"
CANDLES = 300  # traded by the paper runner
EVERY_S = 0.04  # a candle of an hour closes every 40 ms of wall time: the clock runs 90,000 times faster
STALE_AFTER_BARS = 1000.0  # the stale-data guard, in bars: 40 s of wall time at this speed (see `trade`)
WATCHDOG_S = 120.0  # the runner is asked to stop after this long, whatever it has traded by then
BREAKER = 0.2  # the drawdown breaker the deployment trades with (a live promotion requires one)


def paper_tour(store: Store, walkforward: str, feeds: list) -> None:
    """Promote, trade, status, drift, live refused, artifacts (see the module's docstring)."""
    deployment = promote_to_paper(walkforward)
    hour = int(feeds[0].ts_ms[1] - feeds[0].ts_ms[0])
    clock = AcceleratedClock.candle_every(to_ms(CUT), hour, EVERY_S)
    with BinanceEmulator(feeds, clock=clock) as emulator:
        trade(deployment, emulator.base_url, clock)
    from research.cli_drift import DriftArgs, drift_command
    from research.cli_run import status

    console.rule(f"[bold]status[/]: gauntlet status {deployment.name}")
    status(deployment.name, as_json=False)
    console.rule(f"[bold]drift[/]: gauntlet drift {deployment.name} — the window it traded, replayed from the cache")
    code = drift_command(DriftArgs(deployment.name))
    console.print(f"exit code {code}" + (": identical to replay, within bounds" if code == 0 else
                                         ": [red]drift found[/] (see above)"), highlight=False)
    refuse_live(walkforward)
    artifacts(deployment, walkforward, store)


def promote_to_paper(walkforward: str) -> Deployment:
    """`gauntlet promote RUN --to paper --name demo-... --max-drawdown-rate 0.2`; with `--force` when the
    synthetic candidate fails a gate (it is recorded in the deployment, on each gate it let through)."""
    console.rule(f"[bold]promote[/]: gauntlet promote {walkforward} --to paper --name {DEMO_DEPLOYMENT} "
                 f"--max-drawdown-rate {BREAKER}")
    request = request_of(PromoteArgs(walkforward, "paper", name=DEMO_DEPLOYMENT, max_drawdown_rate=BREAKER))
    outcome = promote(request)
    if outcome.deployment is None:
        failed = [g.name for g in outcome.failures]
        outcome = promote(replace(request, force=True))
        console.print(gate_table(f"promote {walkforward} --to paper --force", outcome.gates))
        console.print(f"[yellow]the candidate fails {len(failed)} of {len(outcome.gates)} gates on the SYNTHETIC "
                      f"market[/] ({', '.join(failed)}): a real candidate like it stops here. The demo promotes it to "
                      "paper anyway with --force, to show the rest of the gauntlet; the deployment records --force "
                      "and marks each gate it let through as waived.", highlight=False)
    else:
        console.print(gate_table(f"promote {walkforward} --to paper", outcome.gates))
    assert outcome.deployment is not None and outcome.path is not None
    console.print(f"[bold green]promoted:[/] {outcome.deployment.label()} (paper, venue "
                  f"{outcome.deployment.venue.exchange}) -> {outcome.path}", highlight=False, soft_wrap=True)
    return outcome.deployment


def trade(deployment: Deployment, api_url: str, clock: AcceleratedClock) -> None:
    """`gauntlet run NAME --api-url EMULATOR --speed 90000 --candles 300`, in this process on the emulator's
    clock. The stale-data guard is widened: at this speed a pause of 40 ms would make a candle a bar late."""
    data = settings().data_dir
    _fresh_journal(deployment.name, data)
    console.rule(f"[bold]paper runner[/]: gauntlet run {deployment.name} --candles {CANDLES}, against the emulator "
                 f"(a candle every {EVERY_S * 1000:g} ms: {clock.speed:,.0f}x)")
    console.print(f"the emulator's clock starts at the research cut, {fmt_ts(to_ms(CUT))}; warm-up from the cache, "
                  f"then the runner trades the candles as they close (stale guard {STALE_AFTER_BARS:g} bars: "
                  f"{STALE_AFTER_BARS * EVERY_S:g} s of wall time). Its JSON log lines go to stderr.", highlight=False)
    config = RunnerConfig(data, settings().deployments_dir, api_url=api_url, speed=clock.speed, candles=CANDLES,
                          feed=FeedConfig(stale_after_bars=STALE_AFTER_BARS), heartbeat_s=1.0)
    code = asyncio.run(_watched(Runner(config, clock=clock), deployment.name))
    with Journal.open(journal_path(deployment.name, data)) as journal:
        closed = journal.events_of(deployment.name, ["bar_closed"])
        orders, fills = journal.orders(deployment.name), journal.count_fills(deployment.name)
    span = f"{fmt_ts(closed[0].event.ts_ms)} -> {fmt_ts(closed[-1].event.ts_ms)}" if closed else "none"
    console.print(f"runner exit code {code}: {len(closed)} candles handled ({span}), {len(orders)} orders, {fills} "
                  f"fills, journal {journal_path(deployment.name, data)}", highlight=False, soft_wrap=True)


async def _watched(runner: Runner, name: str) -> int:
    """The runner, asked to stop (as SIGTERM would) if the candles have not come after `WATCHDOG_S`."""
    asyncio.get_running_loop().call_later(WATCHDOG_S, runner.stop.set)
    return await runner.run([name])


def _fresh_journal(name: str, data: Path) -> None:
    """The demo's own journal and kill switch from an earlier demo removed: this run trades from a fresh start."""
    path = journal_path(name, data)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        file.unlink(missing_ok=True)
    KillSwitch.of(name, data).reset()


def refuse_live(walkforward: str) -> None:
    """`gauntlet promote RUN --to live --name demo-... --max-drawdown-rate 0.2`: refused, every reason shown.
    Nothing asks a terminal or an exchange: no key is looked up anywhere but the environment and `.env`."""
    console.rule(f"[bold]promote --to live[/]: gauntlet promote {walkforward} --to live --name {DEMO_DEPLOYMENT} "
                 f"--max-drawdown-rate {BREAKER}")
    request = request_of(PromoteArgs(walkforward, "live", name=DEMO_DEPLOYMENT, max_drawdown_rate=BREAKER))
    outcome = promote(request, seams=LiveSeams(exchange=None, ask=None))
    console.print(gate_table(f"promote {walkforward} --to live", outcome.gates))
    if outcome.deployment is not None:  # cannot happen without --confirm; said plainly if it ever does
        console.print(f"[red]promoted to live: {outcome.path}[/]")
        return
    console.print(f"[bold red]refused:[/] {len(outcome.failures)} of {len(outcome.gates)} gates failed; nothing was "
                  "written", highlight=False)
    for gate in outcome.failures:
        why = "" if gate.figure is None or not gate.detail else f": {gate.detail}"  # text() holds it otherwise
        console.print(f"  [red]x[/] {escape(gate.text() + why)}", highlight=False, soft_wrap=True)


def artifacts(deployment: Deployment, walkforward: str, store: Store) -> None:
    """Where everything the demo made is."""
    data, reports = settings().data_dir, settings().reports_dir
    console.rule("[bold]artifacts[/]")
    lines = [f"cache (Parquet):         {store.root / 'ohlcv'}",
             f"runs:                    {reports} (index.html; the walk-forward is {walkforward})",
             f"deployment:              {settings().deployments_dir} ({deployment.label()}, newest of its versions)",
             f"journal (SQLite):        {journal_path(deployment.name, data)}",
             f"export it:               gauntlet journal export {deployment.name}  -> "
             f"{reports / f'journal-{deployment.name}'}"]
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
