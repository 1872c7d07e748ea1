"""Several replicas on one database: leases, claim owners, shared limits and pace

- leases: the scorer and the update owner are elected through a lease row, fenced by
  holder and epoch (bot/storage/leases.py);
- deliveries.claimed_by / claimed_until: which replica holds a claim, and until when;
- command_counts: per-user and per-group command limits shared by replicas;
- send_pace: the bot token's global send pace shared by outbox workers.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("acquired_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "command_counts",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("window_ms", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", "window_ms", name=op.f("pk_command_counts")),
    )
    op.create_index("ix_command_counts_window", "command_counts", ["window_ms"], unique=False)
    op.create_table(
        "send_pace",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("next_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_send_pace")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
    op.drop_table("send_pace")
    op.drop_index("ix_command_counts_window", table_name="command_counts")
    op.drop_table("command_counts")
    op.drop_table("leases")
