"""Shadow mode: copies of live handoffs sent to an agency's new endpoint, and what it said back.

Expand only (new tables): processes of the previous release keep working while it runs.

Revision ID: 0011_shadow
Revises: 0010_agency_adapters
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0011_shadow"
down_revision = "0010_agency_adapters"
branch_labels = None
depends_on = None

Instant = broker.store.tables.UTCDateTime


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "shadow_copies",
        sa.Column("handoff_id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("agency_reference", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", Instant(timezone=True), nullable=True),
        sa.Column("sent_at", Instant(timezone=True), nullable=True),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.Column("updated_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], name=op.f("fk_shadow_copies_handoff_id")),
        sa.PrimaryKeyConstraint("handoff_id", name=op.f("pk_shadow_copies")),
    )
    op.create_index(op.f("ix_shadow_copies_agency_id"), "shadow_copies", ["agency_id"], unique=False)
    op.create_table(
        "shadow_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("handoff_id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("agency_reference", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("received_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], name=op.f("fk_shadow_messages_handoff_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_messages")),
        sa.UniqueConstraint("handoff_id", "dedup_key", name=op.f("uq_shadow_messages_handoff_id_dedup_key")),
    )
    op.create_index(op.f("ix_shadow_messages_handoff_id"), "shadow_messages", ["handoff_id"], unique=False)


def downgrade() -> None:
    """Drop them."""
    op.drop_index(op.f("ix_shadow_messages_handoff_id"), table_name="shadow_messages")
    op.drop_table("shadow_messages")
    op.drop_index(op.f("ix_shadow_copies_agency_id"), table_name="shadow_copies")
    op.drop_table("shadow_copies")
