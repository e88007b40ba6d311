"""The two sides a live test compares: what the emulated exchange holds of a deployment (its orders by client
id, the open ones, its trades, the account's balances: read from the emulator's book, the exchange's own
records) and what the deployment's journal says (orders, open orders, fills by venue trade id, the books'
position and cash at the last candle)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from engine.core.ids import parse_client_id, scope_tag
from engine.live.history import journal_path
from engine.live.journal import Journal
from engine.venues.emulator import BinanceEmulator
from engine.venues.emulator.records import OPEN_STATUSES


@dataclass(frozen=True)
class AccountTruth:
    orders_per_client_id: dict[str, int]
    open: set[str]
    trade_ids: set[str]
    balances: dict[str, float]


@dataclass(frozen=True)
class JournalTruth:
    orders: dict[str, str]  # client id -> status
    open: set[str]
    trade_ids: set[str]
    position: float
    cash: float


def _ours(client_id: str, deployment: str) -> bool:
    parsed = parse_client_id(client_id)
    return parsed is not None and parsed.scope == scope_tag(deployment)


def account_truth(emulator: BinanceEmulator, deployment: str) -> AccountTruth:
    book = emulator.book
    with book._lock:  # a consistent read of the exchange's records
        orders = [o for o in book.orders.values() if _ours(o.client_id, deployment)]
        ids = {o.order_id for o in orders}
        trades = {str(t.trade_id) for t in book.trades if t.order_id in ids}
        rows = book.balance_rows(emulator.clock.now_ms())
    return AccountTruth(dict(Counter(o.client_id for o in orders)),
                        {o.client_id for o in orders if o.status in OPEN_STATUSES}, trades,
                        {asset: float(free + locked) for asset, free, locked in rows})


def journal_truth(data_dir: Path, deployment: str) -> JournalTruth:
    with Journal.open(journal_path(deployment, data_dir)) as journal:
        rows = journal.orders(deployment)
        fills = journal.fills_since(deployment)
        marks = journal.equity(deployment)
    last = marks[-1]
    return JournalTruth({r.client_id: r.status.value for r in rows}, {r.client_id for r in rows if r.is_open},
                        {f.trade_id for f in fills}, last.position, last.cash)
