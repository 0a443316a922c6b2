"""Operations: cases remember when their personal data was removed; indexes for retention, exports and metrics.

Expand only (a nullable column and indexes): processes of the previous release keep working while
it runs. Building the indexes holds writes to `cases` and `handoffs` for as long as they take
(about a second per million rows); waiting writers go on afterwards.

Revision ID: 0006_ops
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0006_ops"
down_revision = "0005"
branch_labels = None
depends_on = None

_OPEN = sa.text("state IN ('acknowledged', 'delivered', 'delivering', 'failed', 'pending')")
_RETAINED = sa.text("state = 'closed' AND anonymised_at IS NULL")


def upgrade() -> None:
    """Add cases.anonymised_at and the three indexes."""
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anonymised_at", broker.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_cases_created_at", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_cases_retention", ["updated_at"], unique=False, postgresql_where=_RETAINED, sqlite_where=_RETAINED
        )
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_handoffs_open",
            ["agency_id", "state", "overdue", "escalation_level"],
            unique=False,
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        )


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index("ix_handoffs_open")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_retention")
        batch_op.drop_index("ix_cases_created_at")
        batch_op.drop_column("anonymised_at")
