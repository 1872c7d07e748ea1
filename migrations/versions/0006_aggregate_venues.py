"""Cross-venue aggregates: each venue's part in a coin's "all" row

- aggregate_venues: per (cycle, coin, venue) the venue's OI (coins, USD), its share,
  funding per 8h and basis, or `missing` when it failed that cycle (docs/scoring.md,
  "Across venues"). The aggregate's own score is a score_snapshots row, exchange "all".

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aggregate_venues",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("coin", sa.String(length=40), nullable=False),
        sa.Column("venue", sa.String(length=16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("symbols", sa.String(length=200), nullable=False),
        sa.Column("missing", sa.Boolean(), nullable=False),
        sa.Column("oi_coins", sa.Float(), nullable=True),
        sa.Column("oi_usd", sa.Float(), nullable=True),
        sa.Column("share", sa.Float(), nullable=True),
        sa.Column("funding_8h_pct", sa.Float(), nullable=True),
        sa.Column("basis_pct", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_aggregate_venues_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cycle_id", "coin", "venue", name=op.f("pk_aggregate_venues")),
    )
    op.create_index(op.f("ix_aggregate_venues_ts_ms"), "aggregate_venues", ["ts_ms"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_aggregate_venues_ts_ms"), table_name="aggregate_venues")
    op.drop_table("aggregate_venues")
