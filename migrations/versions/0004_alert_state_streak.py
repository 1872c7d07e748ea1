"""alert_state.candidate_bands: the hysteresis streak itself, not only its summary

A streak that passed through a nearer band confirmed that band, then needed
confirm_cycles more cycles for the farther band the score had already stayed in
(bot/alerts/transitions.py). Existing rows keep working: their streak is rebuilt from
candidate_band and candidate_count.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("candidate_bands", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_state", schema=None) as batch_op:
        batch_op.drop_column("candidate_bands")
