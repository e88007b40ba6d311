"""The emulator's own state on disk (`--state FILE`): balances, orders, trades, the id counters and how far
each market's candles were matched, so a restarted emulator is the same exchange with the same open orders.

One JSON document, replaced atomically after every change (a crash leaves the old file or the new one, never
half of one); amounts are decimal strings, as the exchange writes them. Without a file the state still lives
in the server, beyond any client's crash.
"""

from __future__ import annotations

import json
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.ohlcv.files import FileOps
from engine.venues.emulator.balances import Balances
from engine.venues.emulator.records import BookOrder, BookTrade

if TYPE_CHECKING:
    from engine.venues.emulator.book import Book

VERSION = 1
_TRANSIENT = ("visible_at",)  # the database lag is measured on this process's monotonic clock


def snapshot(book: Book) -> dict[str, Any]:
    return {"version": VERSION, "balances": book.balances.snapshot(),
            "orders": [_encode(o) for o in book.orders.values()], "trades": [_encode(t) for t in book.trades],
            "next_order_id": book.next_order_id, "next_trade_id": book.next_trade_id,
            "matched_until_ms": {market_id: m.matched_until_ms for market_id, m in book.markets.items()}}


def restore(book: Book, state: dict[str, Any]) -> None:
    """Put a saved state into a book built for the same markets (a market no longer served keeps its orders)."""
    if state.get("version") != VERSION:
        raise ValueError(f"emulator state version {state.get('version')!r}: this emulator reads version {VERSION}")
    book.balances = Balances.restore(state["balances"])
    book.orders = {o.order_id: o for o in (_decode(BookOrder, row) for row in state["orders"])}
    book.trades = [_decode(BookTrade, row) for row in state["trades"]]
    book.next_order_id, book.next_trade_id = state["next_order_id"], state["next_trade_id"]
    for market_id, ms in state["matched_until_ms"].items():
        if market_id in book.markets:
            book.markets[market_id].matched_until_ms = ms


def write(path: Path, book: Book) -> None:
    FileOps().write_atomic(path, json.dumps(snapshot(book), indent=1).encode())


def read(path: Path) -> dict[str, Any] | None:
    """The saved state, or None if there is none yet."""
    if not path.exists():
        return None
    if not path.is_file():
        raise ValueError(f"{path}: not a file; give the state file's path (it is created if missing)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not an emulator state file ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the state file ({exc.strerror})") from None


def _encode(record: BookOrder | BookTrade) -> dict[str, Any]:
    return {f.name: str(v) if isinstance(v := getattr(record, f.name), Decimal) else v
            for f in fields(record) if f.name not in _TRANSIENT}


def _decode(cls: type, row: dict[str, Any]) -> Any:
    return cls(**{f.name: Decimal(row[f.name]) if f.type == "Decimal" else row[f.name]
                  for f in fields(cls) if f.name in row})
