"""Liquidations: one-minute buckets per venue, symbol and side, and stream coverage

- liq_buckets: USD notional, size and event count per (venue, symbol, side, minute,
  writer epoch); only non-empty buckets are stored, 30 days (bot/liquidations/buckets.py);
- liq_coverage: live milliseconds per (venue, minute, writer epoch).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "liq_buckets",
        sa.Column("venue", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=5), nullable=False),
        sa.Column("minute_ms", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "venue", "symbol", "side", "minute_ms", "epoch", name=op.f("pk_liq_buckets")
        ),
    )
    op.create_index("ix_liq_buckets_minute", "liq_buckets", ["minute_ms"], unique=False)
    op.create_table(
        "liq_coverage",
        sa.Column("venue", sa.String(length=16), nullable=False),
        sa.Column("minute_ms", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("live_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("venue", "minute_ms", "epoch", name=op.f("pk_liq_coverage")),
    )
    op.create_index("ix_liq_coverage_minute", "liq_coverage", ["minute_ms"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_liq_coverage_minute", table_name="liq_coverage")
    op.drop_table("liq_coverage")
    op.drop_index("ix_liq_buckets_minute", table_name="liq_buckets")
    op.drop_table("liq_buckets")
