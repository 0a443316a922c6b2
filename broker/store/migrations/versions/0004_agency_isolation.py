"""Agency isolation: a circuit breaker per agency, and the outbox indexed by agency for claims.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add agency_circuits and ix_outbox_agency_due."""
    op.create_table(
        "agency_circuits",
        sa.Column("agency_id", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("opened_at", broker.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_until", broker.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("probe_until", broker.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", broker.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_agency_circuits")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_agency_due", ["agency_id", "due_at"], unique=False)


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_agency_due")
    op.drop_table("agency_circuits")
