"""chat time zone, daily cap and catch-up marker; delivery kind

- chats.tz: quiet hours and the daily cap's day are in the chat's own time zone;
- chats.daily_cap: pushes per local day (null: alerts.daily_cap);
- chats.held_since_ms: alerts were held (mute, quiet hours, cap): a catch-up is owed;
- deliveries.kind: alert | catchup | cap_note (docs/alerts.md).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tz", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("daily_cap", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("held_since_ms", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=12), server_default="alert", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_column("held_since_ms")
        batch_op.drop_column("daily_cap")
        batch_op.drop_column("tz")
