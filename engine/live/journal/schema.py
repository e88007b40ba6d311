"""The journal's tables as SQLAlchemy Core sees them, for the queries. The migrations in `migrations/` make
them (a test checks the two agree); a change here is a new migration, never an edit of an old one.

- `events`: append-only, in order; `seq` numbers every event of every deployment and is never reused. The
  books (orders, ledger, risk) are a fold over them; risk refusals are events too (`risk_checked` naming the
  rule), so a refusal sits in the sequence where it happened rather than in a table of its own.
- `orders`: one row per client id (unique across deployments), written as the intent before the request
  leaves, then kept as the venue last described it: status, the venue's id, its raw state.
- `fills`: one row per venue trade id, unique per (deployment, symbol): a fill reported twice is booked once.
- `snapshots`: the books of a deployment as of event `seq`; recovery loads the latest and folds what follows.
- `equity`: marks of a deployment's equity, cash and position, one per `ts_ms`.
- `runner`: one row per deployment, what its runner last said: state, heartbeat (wall time), last candle, pid.
- `starts`: one row per process start of a deployment (wall time), with the last candle handled before it.
- `alembic_version`: the schema revision (Alembic's own table).
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Column, Float, ForeignKey, Index, Integer, MetaData,
                        SmallInteger, Table, Text, UniqueConstraint)

__all__ = ["equity", "events", "fills", "metadata", "orders", "runner", "snapshots", "starts"]

metadata = MetaData()
SERIAL = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only an INTEGER PRIMARY KEY

events = Table(
    "events", metadata,
    Column("seq", SERIAL, primary_key=True, autoincrement=True),
    Column("deployment", Text, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("type", Text, nullable=False),  # the event's `kind`, e.g. order_filled
    Column("fields", JSON, nullable=False),  # every field of the record, ts_ms included
    Index("ix_events_deployment_seq", "deployment", "seq"),
    sqlite_autoincrement=True,  # a seq is never handed out twice, even after the last row's rollback
)

orders = Table(
    "orders", metadata,
    Column("client_id", Text, primary_key=True),
    Column("deployment", Text, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("side", SmallInteger, nullable=False),
    Column("type", Text, nullable=False),
    Column("tif", Text, nullable=False),
    Column("qty", Float, nullable=False),
    Column("quote_qty", Float),
    Column("limit_px", Float),
    Column("stop_px", Float),
    Column("reduce_only", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("venue_order_id", Text),
    Column("filled_qty", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("venue_state", JSON),  # the venue's last raw description of the order (ccxt's `info`)
    Column("intent_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    CheckConstraint("side IN (1, -1)", name="ck_orders_side"),
    Index("ix_orders_deployment_status", "deployment", "status"),
)

fills = Table(
    "fills", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("deployment", Text, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("trade_id", Text, nullable=False),  # the venue's trade id
    Column("client_id", Text, ForeignKey("orders.client_id"), nullable=False),
    Column("qty", Float, nullable=False),
    Column("px", Float, nullable=False),
    Column("fee", Float, nullable=False),
    Column("fee_asset", Text, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("seq", BigInteger, ForeignKey("events.seq"), nullable=False),  # its order_filled event
    UniqueConstraint("deployment", "symbol", "trade_id", name="uq_fills_trade"),
    Index("ix_fills_deployment_ts", "deployment", "ts_ms"),
)

snapshots = Table(
    "snapshots", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("deployment", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),  # the last event the state includes
    Column("state", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_snapshots_deployment_seq", "deployment", "seq"),
)

equity = Table(
    "equity", metadata,
    Column("deployment", Text, primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("equity", Float, nullable=False),
    Column("cash", Float, nullable=False),
    Column("position", Float, nullable=False),  # base held, signed (a short is negative)
)

runner = Table(
    "runner", metadata,
    Column("deployment", Text, primary_key=True),
    Column("state", Text, nullable=False),  # running, stopped, halted
    Column("started_ms", BigInteger, nullable=False),  # wall time the process took the deployment up
    Column("heartbeat_ms", BigInteger, nullable=False),  # wall time of its last sign of life
    Column("last_candle_ms", BigInteger),  # open time of the last candle it finished
    Column("pid", Integer),
    Column("detail", Text, nullable=False),  # why it stopped or halted
)

starts = Table(
    "starts", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("deployment", Text, nullable=False),
    Column("started_ms", BigInteger, nullable=False),  # wall time the process took the deployment up
    Column("last_candle_ms", BigInteger),  # open time of the last candle handled before it (None: a first start)
    Column("pid", Integer),
    UniqueConstraint("deployment", "started_ms", name="uq_starts_deployment_started"),
)
