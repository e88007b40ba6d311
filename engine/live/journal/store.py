"""The journal: how the runner survives SIGKILL without a duplicate or an orphaned order.

One `Journal` per file (or database URL) holds any number of deployments. Every write is one transaction,
durable when the call returns (see `database`): an intent is on disk before its request leaves, a batch of
events is all there or not there at all, and a fill reported twice is booked once. Recovery is "load the
latest snapshot, fold the events after it" (`latest_snapshot`, `events_after`), with the `orders` table
answering what reconciliation asks first: which orders may be open, and which have no venue answer yet.

Secrets never go in: an order carries no key (the venue holds the credentials, the journal only what was
asked and what was said), and any field or raw state named like a credential is refused (`SecretRefused`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from engine.core.orders import TERMINAL, Order
from engine.live.journal.codec import check_json, decode, encode, refuse_secrets
from engine.live.journal.database import WRITE, connect, location
from engine.live.journal.errors import IntentConflict, JournalError, UnknownOrder
from engine.live.journal.migrate import upgrade
from engine.live.journal.order_rows import INTENT_COLUMNS, intent_row, row_after
from engine.live.journal.records import (Appended, Entry, EquityMark, FillRecord, Heartbeat, OrderRecord, Snapshot,
                                         Start)
from engine.live.journal.schema import equity, events, fills, orders, runner, snapshots, starts

__all__ = ["KEEP_SNAPSHOTS", "Journal"]

_TERMINAL = [status.value for status in TERMINAL]
_BEAT = [f.name for f in fields(Heartbeat)]
# built once: the runner journals every tick, and building a statement costs more than running it
_ORDER = select(orders).where(orders.c.client_id == bindparam("client_id"))
_BOOKED = select(fills.c.id).where((fills.c.deployment == bindparam("deployment")) & (fills.c.symbol == bindparam("symbol"))
                                   & (fills.c.trade_id == bindparam("trade_id")))
_UPDATE_ORDER = update(orders).where(orders.c.client_id == bindparam("key"))
_INSERT_ORDER, _INSERT_EVENT, _INSERT_FILL = insert(orders), insert(events), insert(fills)
_INSERT_SNAPSHOT, _INSERT_MARK, _INSERT_BEAT = insert(snapshots), insert(equity), insert(runner)
_DELETE_MARK = delete(equity).where((equity.c.deployment == bindparam("deployment")) & (equity.c.ts_ms == bindparam("ts")))
_DELETE_BEAT = delete(runner).where(runner.c.deployment == bindparam("deployment"))
_LAST_SEQ = select(func.max(events.c.seq)).where(events.c.deployment == bindparam("deployment"))
_NEWEST_SNAPSHOTS = (select(snapshots.c.id).where(snapshots.c.deployment == bindparam("deployment"))
                     .order_by(snapshots.c.seq.desc(), snapshots.c.id.desc()).limit(bindparam("keep")))
_PRUNE_SNAPSHOTS = delete(snapshots).where((snapshots.c.deployment == bindparam("deployment"))
                                           & snapshots.c.id.not_in(_NEWEST_SNAPSHOTS))
KEEP_SNAPSHOTS = 3  # per deployment: recovery reads the latest; the two before it are for a person to look at


class Journal:
    """A journal, opened (and migrated to this gauntlet's schema) by `Journal.open`."""

    def __init__(self, engine: Engine, where: str, revision: str, keep_snapshots: int = KEEP_SNAPSHOTS) -> None:
        if keep_snapshots < 1:
            raise ValueError(f"a journal keeps at least the latest snapshot (recovery starts from it), got "
                             f"keep_snapshots={keep_snapshots}")
        self._engine, self._writer = engine, engine.execution_options(**WRITE)
        self.where, self.revision = where, revision  # the file (or URL, password hidden), the schema revision
        self._started: dict[str, int] = {}  # deployment -> the start this journal has kept already (see `_beat`)
        self.keep_snapshots = keep_snapshots

    @classmethod
    def open(cls, target: str | Path, *, busy_timeout_s: float = 30.0, keep_snapshots: int = KEEP_SNAPSHOTS) -> Journal:
        """Open the journal at `target` (a file path or a database URL), creating it or upgrading its schema.
        A folder, an unreadable file, a file that is not a journal, or one from a newer gauntlet raises
        `JournalError` naming it. Each deployment keeps its newest `keep_snapshots` snapshots."""
        where, engine = location(target), connect(target, busy_timeout_s)
        try:
            return cls(engine, where, upgrade(engine, where), keep_snapshots)
        except DBAPIError as exc:
            engine.dispose()
            raise JournalError(f"cannot open the journal {where}: {exc.orig}") from None
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # writes: each one transaction, durable on return

    def record_intent(self, deployment: str, order: Order, ts_ms: int) -> None:
        """Journal `order` as SUBMITTED before its request leaves. Recording the same intent again changes
        nothing; a client id journaled as a different order raises `IntentConflict`."""
        row = intent_row(_named(deployment), order, ts_ms)
        with self._write() as connection:
            known = connection.execute(_ORDER, {"client_id": order.client_id}).mappings().first()
            if known is None:
                connection.execute(_INSERT_ORDER, row)
            elif differ := [f"{column} {known[column]!r} (now {row[column]!r})" for column in INTENT_COLUMNS
                            if known[column] != row[column]]:
                raise IntentConflict(f"client id {order.client_id} is journaled already as another order, with "
                                     f"{', '.join(differ)}: an id names one intent, forever")

    def append(self, deployment: str, batch: Iterable[Any]) -> Appended:
        """Journal a batch of events (`engine.core.events`) in one transaction, in order. An order event
        updates its order's row; an `OrderFilled` books a fill, unless its venue trade id is booked already:
        then it is neither booked nor journaled again, and `Appended.duplicates` reports it."""
        encoded = [(event, *encode(event)) for event in batch]  # refused before anything is written
        with self._write() as connection:
            return _append(connection, _named(deployment), encoded)

    def note_venue_state(self, client_id: str, state: Mapping[str, Any], ts_ms: int) -> None:
        """Keep the venue's raw description of an order (ccxt's `info`) as its last known state."""
        refuse_secrets(state, f"the venue state of {client_id}")
        check_json(dict(state), f"the venue state of {client_id}")
        with self._write() as connection:
            updated_ms = connection.execute(select(orders.c.updated_ms).where(orders.c.client_id == client_id)).scalar()
            if updated_ms is None:
                raise UnknownOrder(f"no journaled order has client id {client_id}: record its intent first")
            connection.execute(update(orders).where(orders.c.client_id == client_id)
                               .values(venue_state=dict(state), updated_ms=max(updated_ms, ts_ms)))

    def save_snapshot(self, deployment: str, seq: int, state: Mapping[str, Any], ts_ms: int) -> None:
        """Keep the books of `deployment` as of event `seq` (which must be journaled), as JSON; snapshots older
        than its newest `keep_snapshots` go in the same transaction."""
        check_json(dict(state), f"the snapshot of {_named(deployment)} at seq {seq}")
        refuse_secrets(state, f"the snapshot of {deployment}")
        with self._write() as connection:
            if seq > (last := _last_seq(connection, deployment)):
                raise JournalError(f"a snapshot of {deployment} as of seq {seq} is ahead of its last event ({last})")
            _snapshot(connection, deployment, seq, state, ts_ms, self.keep_snapshots)

    def record_equity(self, deployment: str, mark: EquityMark) -> None:
        """Keep a mark of `deployment`'s value; a second mark at the same `ts_ms` replaces the first."""
        check_json([mark.equity, mark.cash, mark.position], f"the equity mark of {deployment} at {mark.ts_ms}")
        with self._write() as connection:
            _mark(connection, _named(deployment), mark)

    def record_tick(self, deployment: str, batch: Iterable[Any], mark: EquityMark, beat: Heartbeat,
                    snapshot: Mapping[str, Any] | None = None) -> Appended:
        """One candle of the runner, in one transaction: its events (as `append`), the equity mark at its close,
        the heartbeat, and optionally a snapshot of the books as of its last event (older snapshots pruned, as
        `save_snapshot` does). A runner killed mid-candle
        leaves all of it or none, so recovery sees whole candles and a snapshot never lags its candle."""
        encoded = [(event, *encode(event)) for event in batch]
        check_json([mark.equity, mark.cash, mark.position], f"the equity mark of {deployment} at {mark.ts_ms}")
        if snapshot is not None:
            check_json(dict(snapshot), f"the snapshot of {deployment} at {mark.ts_ms}")
            refuse_secrets(snapshot, f"the snapshot of {deployment}")
        with self._write() as connection:
            done = _append(connection, _named(deployment), encoded)
            _mark(connection, deployment, mark)
            self._beat(connection, deployment, beat)
            if snapshot is not None:
                seq = done.seqs[-1] if done.seqs else _last_seq(connection, deployment)
                _snapshot(connection, deployment, seq, snapshot, mark.ts_ms, self.keep_snapshots)
        self._started[deployment] = beat.started_ms  # committed: the start is kept
        return done

    def beat(self, deployment: str, heartbeat: Heartbeat) -> None:
        """Keep what the runner says about `deployment` now (its state and heartbeat), replacing the last word;
        the first heartbeat of a process (a `started_ms` not seen before) also keeps its start (`starts`)."""
        with self._write() as connection:
            self._beat(connection, _named(deployment), heartbeat)
        self._started[deployment] = heartbeat.started_ms

    def _beat(self, connection: Connection, deployment: str, heartbeat: Heartbeat) -> None:
        if self._started.get(deployment) != heartbeat.started_ms:  # once per process and journal, not per candle
            _start(connection, deployment, heartbeat)
        connection.execute(_DELETE_BEAT, {"deployment": deployment})
        connection.execute(_INSERT_BEAT, {"deployment": deployment, **{name: getattr(heartbeat, name) for name in _BEAT}})

    # reads: each one consistent snapshot of the journal

    def order(self, client_id: str) -> OrderRecord | None:
        with self._read() as connection:
            row = connection.execute(_ORDER, {"client_id": client_id}).mappings().first()
        return None if row is None else OrderRecord.from_row(row)

    def orders(self, deployment: str, *, open_only: bool = False) -> list[OrderRecord]:
        """The orders of `deployment` by intent time (then client id); `open_only`: those not filled,
        cancelled or rejected, the ones reconciliation asks the venue about."""
        query = select(orders).where(orders.c.deployment == deployment)
        if open_only:
            query = query.where(orders.c.status.not_in(_TERMINAL))
        with self._read() as connection:
            rows = connection.execute(query.order_by(orders.c.intent_ms, orders.c.client_id)).mappings().all()
        return [OrderRecord.from_row(row) for row in rows]

    def fills_since(self, deployment: str, ts_ms: int = 0, *, symbol: str | None = None) -> list[FillRecord]:
        """The fills of `deployment` at or after `ts_ms`, oldest first."""
        query = select(fills).where((fills.c.deployment == deployment) & (fills.c.ts_ms >= ts_ms))
        if symbol is not None:
            query = query.where(fills.c.symbol == symbol)
        with self._read() as connection:
            rows = connection.execute(query.order_by(fills.c.ts_ms, fills.c.id)).mappings().all()
        return [_fill(row) for row in rows]

    def last_fill(self, deployment: str, symbol: str | None = None) -> FillRecord | None:
        """The newest fill (its venue trade id and time): where asking the venue for trades since resumes."""
        query = select(fills).where(fills.c.deployment == deployment)
        if symbol is not None:
            query = query.where(fills.c.symbol == symbol)
        with self._read() as connection:
            row = connection.execute(query.order_by(fills.c.ts_ms.desc(), fills.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else _fill(row)

    def events_after(self, deployment: str, seq: int = 0) -> list[Entry]:
        """The events of `deployment` after `seq` (a snapshot's), in order, as the typed records written."""
        query = select(events).where((events.c.deployment == deployment) & (events.c.seq > seq)).order_by(events.c.seq)
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [Entry(row["seq"], row["deployment"], decode(row["type"], row["fields"], f"{self.where} event {row['seq']}"))
                for row in rows]

    def events_of(self, deployment: str, kinds: Iterable[str]) -> list[Entry]:
        """The events of `deployment` of the given kinds (e.g. `risk_checked`), in order."""
        query = select(events).where((events.c.deployment == deployment) & events.c.type.in_(list(kinds)))
        with self._read() as connection:
            rows = connection.execute(query.order_by(events.c.seq)).mappings().all()
        return [Entry(row["seq"], row["deployment"], decode(row["type"], row["fields"], f"{self.where} event {row['seq']}"))
                for row in rows]

    def count_fills(self, deployment: str) -> int:
        with self._read() as connection:
            return connection.execute(select(func.count()).select_from(fills)
                                      .where(fills.c.deployment == deployment)).scalar() or 0

    def last_seq(self, deployment: str) -> int:
        """The seq of the last event of `deployment` (0: none yet)."""
        with self._read() as connection:
            return _last_seq(connection, deployment)

    def latest_snapshot(self, deployment: str) -> Snapshot | None:
        query = select(snapshots).where(snapshots.c.deployment == deployment)
        with self._read() as connection:
            row = connection.execute(query.order_by(snapshots.c.seq.desc(), snapshots.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else Snapshot(row["deployment"], row["seq"], row["state"], row["created_ms"])

    def equity(self, deployment: str, since_ms: int = 0) -> list[EquityMark]:
        query = select(equity).where((equity.c.deployment == deployment) & (equity.c.ts_ms >= since_ms))
        with self._read() as connection:
            rows = connection.execute(query.order_by(equity.c.ts_ms)).mappings().all()
        return [EquityMark(row["ts_ms"], row["equity"], row["cash"], row["position"]) for row in rows]

    def heartbeat(self, deployment: str) -> Heartbeat | None:
        """What the runner last said about `deployment` (None: no runner ever took it up)."""
        with self._read() as connection:
            row = connection.execute(select(runner).where(runner.c.deployment == deployment)).mappings().first()
        return None if row is None else Heartbeat(**{k: v for k, v in row.items() if k != "deployment"})

    def starts(self, deployment: str) -> list[Start]:
        """Every start of `deployment`'s runner, oldest first: the first is its first start, each later one a
        restart after the candle it names."""
        query = select(starts).where(starts.c.deployment == deployment).order_by(starts.c.started_ms, starts.c.id)
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [Start(row["started_ms"], row["last_candle_ms"], row["pid"]) for row in rows]

    def integrity_problems(self) -> list[str]:
        """What SQLite's `integrity_check` and `foreign_key_check` find wrong with the file (empty: sound);
        another database checks itself, and reports nothing here."""
        if self._engine.dialect.name != "sqlite":
            return []
        with self._read() as connection:
            found = [row[0] for row in connection.execute(text("PRAGMA integrity_check"))]
            broken = [f"{row[0]} row {row[1]} refers to a missing {row[2]} row"
                      for row in connection.execute(text("PRAGMA foreign_key_check"))]
        return [line for line in found if line != "ok"] + broken

    def export(self, deployment: str, folder: Path) -> list[Path]:
        """Write the orders, fills and events of `deployment` to `folder` as Parquet (see `export`)."""
        from engine.live.journal.export import write_tables  # pyarrow only when exporting, not in the runner

        with self._read() as connection:
            rows = {name: connection.execute(select(table).where(table.c.deployment == deployment)
                                             .order_by(*table.primary_key.columns)).mappings().all()
                    for name, table in (("orders", orders), ("fills", fills), ("events", events))}
        return write_tables(rows, Path(folder))

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as connection:
            yield connection


def _append(connection: Connection, deployment: str, encoded: list[tuple[Any, str, dict[str, Any]]]) -> Appended:
    known: dict[str, dict[str, Any]] = {}  # order rows as this batch leaves them
    changed: set[str] = set()
    seqs, duplicates = [], []
    for event, kind, fields in encoded:
        client_id = fields.get("client_id")
        row = None if client_id is None else known.get(client_id) or _order_row(connection, deployment, client_id)
        if kind == "order_filled" and connection.execute(_BOOKED, {"deployment": deployment, "symbol": row["symbol"],
                                                                   "trade_id": event.trade_id}).first() is not None:
            duplicates.append(event)
            continue
        seq = connection.execute(_INSERT_EVENT, {"deployment": deployment, "ts_ms": event.ts_ms, "type": kind,
                                                  "fields": fields}).inserted_primary_key[0]
        seqs.append(seq)
        if row is None:
            continue
        known[client_id] = row_after(row, event)
        changed.add(client_id)
        if kind == "order_filled":
            connection.execute(_INSERT_FILL, {
                "deployment": deployment, "symbol": row["symbol"], "trade_id": event.trade_id, "client_id": client_id,
                "qty": event.qty, "px": event.px, "fee": event.fee, "fee_asset": event.fee_asset, "ts_ms": event.ts_ms,
                "seq": seq})
    for client_id in sorted(changed):
        connection.execute(_UPDATE_ORDER, {**known[client_id], "key": client_id})
    return Appended(tuple(seqs), tuple(duplicates))


def _snapshot(connection: Connection, deployment: str, seq: int, state: Mapping[str, Any], ts_ms: int,
              keep: int) -> None:
    """Insert a snapshot and delete those of `deployment` older than its newest `keep` (newest by seq, as
    `latest_snapshot` reads them): recovery starts from the latest, so the snapshots stay a few, not one per
    `snapshot_every` candles forever (SQLite reuses the pages they held)."""
    connection.execute(_INSERT_SNAPSHOT, {"deployment": deployment, "seq": seq, "state": dict(state),
                                          "created_ms": ts_ms})
    connection.execute(_PRUNE_SNAPSHOTS, {"deployment": deployment, "keep": keep})


def _mark(connection: Connection, deployment: str, mark: EquityMark) -> None:
    connection.execute(_DELETE_MARK, {"deployment": deployment, "ts": mark.ts_ms})
    connection.execute(_INSERT_MARK, {"deployment": deployment, "ts_ms": mark.ts_ms, "equity": mark.equity,
                                      "cash": mark.cash, "position": mark.position})


def _start(connection: Connection, deployment: str, heartbeat: Heartbeat) -> None:
    """Keep the start `heartbeat` speaks for, unless it is kept already (another journal object kept it)."""
    known = connection.execute(select(starts.c.id).where((starts.c.deployment == deployment)
                                                         & (starts.c.started_ms == heartbeat.started_ms))).first()
    if known is None:
        connection.execute(insert(starts), {"deployment": deployment, "started_ms": heartbeat.started_ms,
                                             "last_candle_ms": heartbeat.last_candle_ms, "pid": heartbeat.pid})


def _order_row(connection: Connection, deployment: str, client_id: str) -> dict[str, Any]:
    row = connection.execute(_ORDER, {"client_id": client_id}).mappings().first()
    if row is None or row["deployment"] != deployment:
        owner = "no deployment" if row is None else f"deployment {row['deployment']}"
        raise UnknownOrder(f"an event about order {client_id} for {deployment}, but {owner} journaled its intent: "
                           f"record the intent (or adopt the venue's order) first")
    return dict(row)


def _last_seq(connection: Connection, deployment: str) -> int:
    return connection.execute(_LAST_SEQ, {"deployment": deployment}).scalar() or 0


def _fill(row: Mapping[str, Any]) -> FillRecord:
    return FillRecord(**{key: value for key, value in row.items() if key != "id"})


def _named(deployment: str) -> str:
    if not deployment or not isinstance(deployment, str):
        raise JournalError(f"a journal write needs the deployment's name, got {deployment!r}")
    return deployment
