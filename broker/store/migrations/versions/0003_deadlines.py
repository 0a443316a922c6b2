"""deadlines on handoffs, and the index the sweep reads

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INSTANTS = (
    "ack_due_at",
    "answer_due_at",
    "review_due_at",
    "warn_at",
    "next_check_at",
    "paused_at",
    "acknowledged_at",
    "answered_at",
)


def upgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        for name in _INSTANTS:
            batch_op.add_column(sa.Column(name, broker.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answer_allowed", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("remaining", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("warned", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("deadline_version", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("extension_request", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_handoffs_next_check_at",
            ["next_check_at"],
            unique=False,
            postgresql_where=sa.text("next_check_at IS NOT NULL"),
            sqlite_where=sa.text("next_check_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_handoffs_next_check_at",
            postgresql_where=sa.text("next_check_at IS NOT NULL"),
            sqlite_where=sa.text("next_check_at IS NOT NULL"),
        )
        for name in ("extension_request", "deadline_version", "escalation_level", "warned", "remaining"):
            batch_op.drop_column(name)
        batch_op.drop_column("answer_allowed")
        for name in reversed(_INSTANTS):
            batch_op.drop_column(name)
