"""`gauntlet status`: what a deployment's journal says now — its state and heartbeat, the last candle, the
position, cash, equity and PnL at that candle's close, the open orders, fills, the risk book and the runner's
refusals by rule, and the kill switch (latched with `--flatten`: "flattening" until the journal's position is
0 with no open order, then "flat"). Read-only: a status never writes to a journal a runner is using."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.live.history import deployment_state, journal_path
from engine.live.journal import Journal
from engine.live.killswitch import KillSwitch

__all__ = ["Status", "read_status", "utc"]


@dataclass(frozen=True, slots=True)
class Status:
    name: str
    state: str
    last_heartbeat: str | None
    last_candle: str | None
    position: float  # base, signed
    cash: float
    equity: float
    pnl: float  # equity minus the initial cash
    init_cash: float | None
    open_orders: list[dict[str, Any]] = field(default_factory=list)
    fills: int = 0
    risk: dict[str, Any] = field(default_factory=dict)  # the loop's risk book at the last snapshot
    refusals: dict[str, int] = field(default_factory=dict)  # rule -> entries refused
    last_refusal: str | None = None
    kill_switch: str | None = None  # why it is latched
    flatten: str | None = None  # latched with --flatten: "flattening", then "flat"; else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def utc(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="seconds")


def read_status(name: str, data_dir: Path) -> Status:
    """The status of deployment `name` from its journal; `LookupError` when it has none."""
    path = journal_path(name, data_dir)
    if not path.is_file():
        raise LookupError(f"deployment {name} has no journal at {path}: it has never run (start it with "
                          f"`gauntlet run {name}`)")
    with Journal.open(path) as journal:
        beat, marks = journal.heartbeat(name), journal.equity(name)
        snapshot = journal.latest_snapshot(name)
        checks = [e.event for e in journal.events_of(name, ["risk_checked"])]
        orders, fills = journal.orders(name, open_only=True), journal.count_fills(name)
    last = marks[-1] if marks else None
    state = snapshot.state if snapshot is not None else {}
    init_cash = state.get("init_cash")
    equity = last.equity if last is not None else (init_cash or 0.0)
    refused = [c for c in checks if c.rule is not None and c.allowed_quote <= 0]
    book = (state.get("loop") or {}).get("book") or {}
    latch = KillSwitch.of(name, data_dir).read()
    flatten = None
    if latch is not None and latch.flatten:
        flatten = "flat" if not orders and (last is None or last.position == 0) else "flattening"
    return Status(
        name, deployment_state(name, data_dir).state, utc(beat.heartbeat_ms if beat else None),
        utc(beat.last_candle_ms if beat else None), last.position if last else 0.0, last.cash if last else 0.0,
        equity, equity - init_cash if init_cash is not None else 0.0, init_cash,
        [{"client_id": o.client_id, "side": "buy" if o.side > 0 else "sell", "type": o.type.value, "qty": o.qty,
          "quote_qty": o.quote_qty, "status": o.status.value, "venue_order_id": o.venue_order_id} for o in orders],
        fills, {k: book[k] for k in ("peak", "day_start", "streak", "cooldown_until") if k in book},
        dict(Counter(c.rule for c in refused)), refused[-1].describe() if refused else None,
        None if latch is None else latch.reason, flatten)
