"""Agency adapters switched at run time (onboarding, offboarding, shadow mode).

Expand only (a new table): processes of the previous release keep working while it runs.

Revision ID: 0010_agency_adapters
Revises: 0009_recurring
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0010_agency_adapters"
down_revision = "0009_recurring"
branch_labels = None
depends_on = None

Instant = broker.store.tables.UTCDateTime


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        "agency_adapters",
        sa.Column("agency_id", sa.String(length=80), nullable=False),
        sa.Column("adapter", sa.JSON(), nullable=False),
        sa.Column("shadow", sa.JSON(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_agency_adapters")),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("agency_adapters")
