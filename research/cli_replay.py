"""The body of `gauntlet replay`: resolve the spec (flags, a run, or a spec file), replay it, write the run,
print what was replayed and how it differs from the run it came from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from research.console import console


def replay_command(options: dict[str, Any]) -> bool:
    """`options`: the command's parsed options by name; None means "not given"."""
    from research.cli_research import notebook_step, step
    from research.gaps import describe_record
    from research.replay_run import run_replay, write_replay
    from research.replay_spec import FLAG_FIELDS, ReplayRequest, resolve

    request = ReplayRequest(options["strategy"], options["params"], options["from_run"], options["window"],
                            options["use_recorded_source"], options["ideal"],
                            {k: v for k, v in options.items() if k in FLAG_FIELDS and v is not None},
                            None if options.get("config") is None else str(options["config"]))
    resolved = resolve(request)
    for note in resolved.notes:
        console.print(note, style="yellow" if note.startswith("warning") else None, highlight=False)
    if options.get("save_config") is not None:
        path = resolved.spec.write(Path(options["save_config"]))
        console.print(f"spec written to {path}", highlight=False)
    with step(f"replay {resolved.strategy.name} on {resolved.spec.market.symbol}"):
        outcome = run_replay(resolved.spec, parity=options["parity"], strategy=resolved.strategy,
                             max_gap=options.get("max_gap"), bar_by_bar=bool(options.get("bar_by_bar")))
    outcome.notes = resolved.notes
    with step("books, metrics and the QuantStats tearsheet"):
        folder = write_replay(outcome, sys.argv, extra=notebook_step("tearsheet") if options["notebook"] else None)
    console.print(f"run [bold]{folder.name}[/]  ->  {folder}", highlight=False)
    m = outcome.metrics
    window = f"{outcome.spec.market.start or 'first bar'} -> {outcome.spec.market.end or 'last bar'}"
    console.print(f"{outcome.key} {outcome.params} ({window}): return {m['total_return']:.2%}, CAGR {m['cagr']:.2%}, "
                  f"sharpe {m['sharpe']:.3f}, max drawdown {m['max_drawdown']:.2%}, {m['round_trips']} round trips, "
                  f"fees {m['fees_paid']:.2f}, final equity {m['final_equity']:.2f}  (rules: {outcome.rules_source})",
                  highlight=False)
    console.print(f"{outcome.key}: {describe_record(outcome.gaps)}", highlight=False)
    if outcome.parity is None:
        return True
    _print_parity(outcome)
    return outcome.parity.ok


def _print_parity(outcome) -> None:
    console.print(outcome.parity.describe(), style="green" if outcome.parity.ok else "red", highlight=False)
    d = outcome.differences
    console.print(f"realistic vs ideal: equity {d['difference']:+.2f}; fees {d['fees_paid']['realistic']:.2f} vs "
                  f"{d['fees_paid']['ideal']:.2f}; slippage {d['slippage_cost']['realistic']:.2f} vs "
                  f"{d['slippage_cost']['ideal']:.2f}; borrow interest {d['borrow_interest']:.2f}; "
                  f"partial fills {d['partial_fills']}; rejected {len(d['rejected'])}; cancelled {d['cancelled']}; "
                  f"risk blocks {len(d['risk_blocks'])}", highlight=False)
    from research.parity import describe_step

    for step in d["attribution"]:
        console.print("  " + describe_step(step), highlight=False)
