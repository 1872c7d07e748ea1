"""pending_subscriptions: a /subscribe sent before the first cycle, kept until the
symbol list is known (docs/alerts.md); unique per (chat, symbol as typed, venue).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("kinds", sa.String(length=40), nullable=False),
        sa.Column("requested_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["chats.id"],
            name=op.f("fk_pending_subscriptions_chat_id_chats"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_subscriptions")),
        sa.UniqueConstraint("chat_id", "symbol", "exchange", name="uq_pending_subscriptions_key"),
    )


def downgrade() -> None:
    op.drop_table("pending_subscriptions")
