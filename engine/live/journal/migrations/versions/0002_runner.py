"""The runner's own row per deployment: its state (running, stopped, halted), the wall time of its last
heartbeat, the last candle it finished and the process that wrote it, for `gauntlet status` and
`gauntlet deployments`.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runner",
        sa.Column("deployment", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_ms", sa.BigInteger, nullable=False),
        sa.Column("last_candle_ms", sa.BigInteger),
        sa.Column("pid", sa.Integer),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runner")
