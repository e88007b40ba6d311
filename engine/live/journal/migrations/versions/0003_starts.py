"""Every start of a deployment's runner, kept (the `runner` row keeps only the last word): when a process took
the deployment up, the last candle handled before it, and its pid. Drift reads them as the evidence of a
restart: candles caught up after one come late.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "starts",
        sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.Text, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("last_candle_ms", sa.BigInteger),
        sa.Column("pid", sa.Integer),
        sa.UniqueConstraint("deployment", "started_ms", name="uq_starts_deployment_started"),
    )


def downgrade() -> None:
    op.drop_table("starts")
