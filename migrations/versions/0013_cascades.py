"""Liquidation cascades: the per-symbol cascade state and what a cascade event shows

- alert_cascade: a cascade on (its side, since when, USD forced out so far, the squeeze
  it resolves) or a squeeze flushed recently, per (exchange, symbol); quiet symbols have
  no row (bot/alerts/cascade.py);
- alert_events.side, alert_events.detail: a cascade event's side and figures (JSON).
  Nullable: every other event leaves them empty.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_cascade",
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=True),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("forced_usd", sa.Float(), nullable=False),
        sa.Column("squeeze", sa.String(length=32), nullable=True),
        sa.Column("calm_count", sa.Integer(), nullable=False),
        sa.Column("flushed", sa.String(length=32), nullable=True),
        sa.Column("flushed_left", sa.Integer(), nullable=False),
        sa.Column("flushed_oi_pct", sa.Float(), nullable=True),
        sa.Column("last_cycle_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", name=op.f("pk_alert_cascade")),
    )
    # Nullable columns: a plain ALTER TABLE ADD COLUMN on both databases, no table copy.
    op.add_column("alert_events", sa.Column("side", sa.String(length=8), nullable=True))
    op.add_column("alert_events", sa.Column("detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_events") as batch:
        batch.drop_column("detail")
        batch.drop_column("side")
    op.drop_table("alert_cascade")
