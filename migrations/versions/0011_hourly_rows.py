"""Hourly rows and the symbol's own percentiles

- hourly_rows: one compact row per (exchange, symbol, hour): the score's inputs and
  labels from the hour's last cycle, and the mark's high and low over the hour; kept
  400 days by default (`[scorer] hourly_retention_days`);
- score_snapshots gains funding_pctl_90d, oi_24h_pctl_90d, basis_pctl_90d (nullable).

Revision ID: 0011
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERCENTILES = ("funding_pctl_90d", "oi_24h_pctl_90d", "basis_pctl_90d")


def upgrade() -> None:
    op.create_table(
        "hourly_rows",
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("band", sa.String(length=12), nullable=False),
        sa.Column("bias", sa.String(length=8), nullable=False),
        sa.Column("regime", sa.String(length=32), nullable=False),
        sa.Column("oi_contracts", sa.Float(), nullable=False),
        sa.Column("oi_1h_pct", sa.Float(), nullable=True),
        sa.Column("oi_4h_pct", sa.Float(), nullable=True),
        sa.Column("oi_24h_pct", sa.Float(), nullable=True),
        sa.Column("funding_pct", sa.Float(), nullable=False),
        sa.Column("funding_interval_hours", sa.SmallInteger(), nullable=False),
        sa.Column("funding_8h_pct", sa.Float(), nullable=False),
        sa.Column("funding_premium", sa.Float(), nullable=False),
        sa.Column("basis_pct", sa.Float(), nullable=False),
        sa.Column("mark_price", sa.Float(), nullable=False),
        sa.Column("index_price", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", "hour_ms", name=op.f("pk_hourly_rows")),
    )
    op.create_index("ix_hourly_rows_hour", "hourly_rows", ["hour_ms"], unique=False)
    with op.batch_alter_table("score_snapshots") as batch:
        for name in PERCENTILES:
            batch.add_column(sa.Column(name, sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("score_snapshots") as batch:
        for name in reversed(PERCENTILES):
            batch.drop_column(name)
    op.drop_index("ix_hourly_rows_hour", table_name="hourly_rows")
    op.drop_table("hourly_rows")
