"""Long/short positioning: each venue's latest ratios per symbol

- ls_ratios: the latest account ratio (and Binance's top-trader position ratio) of each
  (exchange, symbol), with the venue's time of each (bot/cycle/positioning.py).

Revision ID: 0012
Revises: 0009 (re-chained after the migrations merged beside it)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ls_ratios",
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("account_ratio", sa.Float(), nullable=True),
        sa.Column("account_ms", sa.BigInteger(), nullable=True),
        sa.Column("top_position_ratio", sa.Float(), nullable=True),
        sa.Column("top_position_ms", sa.BigInteger(), nullable=True),
        sa.Column("fetched_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", name=op.f("pk_ls_ratios")),
    )


def downgrade() -> None:
    op.drop_table("ls_ratios")
