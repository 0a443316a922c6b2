"""Recurring complaints: groups, their candidate index, grouped cases and the office's marks.

Expand only (new tables): processes of the previous release keep working while it runs.

Revision ID: 0009_recurring
Revises: 0008_console
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0009_recurring"
down_revision = "0008_console"
branch_labels = None
depends_on = None

Instant = broker.store.tables.UTCDateTime


def upgrade() -> None:
    """Create the four tables."""
    op.create_table(
        "recurring_groups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("governorate", sa.String(length=20), nullable=True),
        sa.Column("block", sa.String(length=20), nullable=True),
        sa.Column("road", sa.String(length=20), nullable=True),
        sa.Column("first_at", Instant(timezone=True), nullable=False),
        sa.Column("last_at", Instant(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("faults", sa.JSON(), nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=False),
        sa.Column("centroid_norm", sa.Float(), nullable=False),
        sa.Column("updated_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recurring_groups")),
    )
    op.create_table(
        "recurring_keys",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("last_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "group_id", name=op.f("pk_recurring_keys")),
    )
    with op.batch_alter_table("recurring_keys", schema=None) as batch_op:
        batch_op.create_index("ix_recurring_keys_key_last_at", ["key", "last_at"], unique=False)
        batch_op.create_index("ix_recurring_keys_group_id", ["group_id"], unique=False)
    op.create_table(
        "recurring_cases",
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("at", Instant(timezone=True), nullable=False),
        sa.Column("agencies", sa.JSON(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("attached_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_recurring_cases")),
        sa.UniqueConstraint("seq", name=op.f("uq_recurring_cases_seq")),
    )
    with op.batch_alter_table("recurring_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recurring_cases_group_id"), ["group_id"], unique=False)
    op.create_table(
        "recurring_marks",
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("owner_agency", sa.String(length=80), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("marked_by", sa.String(length=200), nullable=False),
        sa.Column("marked_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_recurring_marks")),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("recurring_marks")
    with op.batch_alter_table("recurring_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recurring_cases_group_id"))
    op.drop_table("recurring_cases")
    with op.batch_alter_table("recurring_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_recurring_keys_group_id")
        batch_op.drop_index("ix_recurring_keys_key_last_at")
    op.drop_table("recurring_keys")
    op.drop_table("recurring_groups")
