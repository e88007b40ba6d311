"""The first journal: events, orders by client id, fills by venue trade id, snapshots, equity marks.

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.Text, nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_deployment_seq", "events", ["deployment", "seq"])
    op.create_table(
        "orders",
        sa.Column("client_id", sa.Text, primary_key=True),
        sa.Column("deployment", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("side", sa.SmallInteger, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("tif", sa.Text, nullable=False),
        sa.Column("qty", sa.Float, nullable=False),
        sa.Column("quote_qty", sa.Float),
        sa.Column("limit_px", sa.Float),
        sa.Column("stop_px", sa.Float),
        sa.Column("reduce_only", sa.Boolean, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("venue_order_id", sa.Text),
        sa.Column("filled_qty", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("venue_state", sa.JSON),
        sa.Column("intent_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.CheckConstraint("side IN (1, -1)", name="ck_orders_side"),
    )
    op.create_index("ix_orders_deployment_status", "orders", ["deployment", "status"])
    _fills_snapshots_equity()


def _fills_snapshots_equity() -> None:
    op.create_table(
        "fills",
        sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("trade_id", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, sa.ForeignKey("orders.client_id"), nullable=False),
        sa.Column("qty", sa.Float, nullable=False),
        sa.Column("px", sa.Float, nullable=False),
        sa.Column("fee", sa.Float, nullable=False),
        sa.Column("fee_asset", sa.Text, nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.ForeignKey("events.seq"), nullable=False),
        sa.UniqueConstraint("deployment", "symbol", "trade_id", name="uq_fills_trade"),
    )
    op.create_index("ix_fills_deployment_ts", "fills", ["deployment", "ts_ms"])
    op.create_table(
        "snapshots",
        sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_snapshots_deployment_seq", "snapshots", ["deployment", "seq"])
    op.create_table(
        "equity",
        sa.Column("deployment", sa.Text, primary_key=True),
        sa.Column("ts_ms", sa.BigInteger, primary_key=True),
        sa.Column("equity", sa.Float, nullable=False),
        sa.Column("cash", sa.Float, nullable=False),
        sa.Column("position", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("equity", "snapshots", "fills", "orders", "events"):
        op.drop_table(table)
