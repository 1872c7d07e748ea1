"""Destinations: Discord and HTTPS webhooks a chat attaches, fed by the same outbox

- destinations: one row per webhook (URL and secret encrypted; bot/destinations/);
- deliveries.destination_id: 0 for the chat itself, else the destination a row goes to;
  the unique key becomes (event_id, chat_id, destination_id).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("url_enc", sa.Text(), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deactivated_reason", sa.String(length=128), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["chats.id"],
            name=op.f("fk_destinations_chat_id_chats"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destinations")),
    )
    op.create_index("ix_destinations_chat", "destinations", ["chat_id"], unique=False)
    # SQLite rebuilds the table (batch mode); PostgreSQL alters it in place.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("destination_id", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.drop_constraint("uq_deliveries_key", type_="unique")
        batch_op.create_unique_constraint(
            "uq_deliveries_key", ["event_id", "chat_id", "destination_id"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE destination_id <> 0")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_key", type_="unique")
        batch_op.create_unique_constraint("uq_deliveries_key", ["event_id", "chat_id"])
        batch_op.drop_column("destination_id")
    op.drop_index("ix_destinations_chat", table_name="destinations")
    op.drop_table("destinations")
