"""agency API keys, stored hashed

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=80), nullable=False),
        sa.Column("lookup", sa.String(length=32), nullable=False),
        sa.Column("hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", broker.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", broker.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_keys")),
        sa.UniqueConstraint("lookup", name=op.f("uq_agency_keys_lookup")),
    )
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_keys_agency_id"), ["agency_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_keys_agency_id"))
    op.drop_table("agency_keys")
