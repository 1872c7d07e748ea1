"""Rules: a chat's conditions over the row, their per-symbol state, and their events

- rules: name, condition (canonical rule text), exchange, symbol (null: every symbol),
  for_cycles; unique per (chat, name) (docs/rules.md);
- rule_state: per (rule, symbol) while not idle: the streak before firing, or fired
  and the misses since (enter/exit hysteresis);
- alert_events.rule_id: the rule behind a rule event (kind "rule:<id>").

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=True),
        sa.Column("condition", sa.String(length=400), nullable=False),
        sa.Column("for_cycles", sa.SmallInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["chats.id"],
            name=op.f("fk_rules_chat_id_chats"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
        sa.UniqueConstraint("chat_id", "name", name="uq_rules_key"),
    )
    op.create_index("ix_rules_exchange", "rules", ["exchange"], unique=False)
    op.create_table(
        "rule_state",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("last_cycle_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["rules.id"],
            name=op.f("fk_rule_state_rule_id_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "symbol", name=op.f("pk_rule_state")),
    )
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_alert_events_rule_id_rules"), "rules", ["rule_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_alert_events_rule_id_rules"), type_="foreignkey")
        batch_op.drop_column("rule_id")
    op.drop_table("rule_state")
    op.drop_index("ix_rules_exchange", table_name="rules")
    op.drop_table("rules")
