"""The central office's console: staff accounts, sessions, sign-ins, their audit trail, assignments;
citizens' surveys; samples of the follow-up queue's size.

Expand only (new tables): processes of the previous release keep working while it runs.

Revision ID: 0008_console
Revises: 0006_ops
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0008_console"
down_revision = "0006_ops"
branch_labels = None
depends_on = None

Instant = broker.store.tables.UTCDateTime
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "staff_users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("digits", sa.String(length=5), nullable=False),
        sa.Column("disabled_at", Instant(timezone=True), nullable=True),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.Column("updated_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_users_username")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.Column("expires_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"], name=op.f("fk_staff_sessions_user_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
    )
    op.create_index(op.f("ix_staff_sessions_user_id"), "staff_sessions", ["user_id"], unique=False)
    op.create_table(
        "staff_logins",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_logins")),
    )
    op.create_index("ix_staff_logins_username", "staff_logins", ["username", "created_at"], unique=False)
    op.create_index("ix_staff_logins_address", "staff_logins", ["address", "created_at"], unique=False)
    op.create_table(
        "staff_audit",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_audit")),
    )
    op.create_index(op.f("ix_staff_audit_created_at"), "staff_audit", ["created_at"], unique=False)
    op.create_table(
        "assignments",
        sa.Column("handoff_id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("assigned_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], name=op.f("fk_assignments_handoff_id")),
        sa.PrimaryKeyConstraint("handoff_id", name=op.f("pk_assignments")),
    )
    op.create_index(op.f("ix_assignments_username"), "assignments", ["username"], unique=False)
    op.create_table(
        "surveys",
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("agencies", sa.JSON(), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_surveys_case_id")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_surveys")),
    )
    op.create_index(op.f("ix_surveys_created_at"), "surveys", ["created_at"], unique=False)
    op.create_table(
        "queue_samples",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_samples")),
    )
    op.create_index(op.f("ix_queue_samples_created_at"), "queue_samples", ["created_at"], unique=False)


def downgrade() -> None:
    """Drop them."""
    for table in ("queue_samples", "surveys", "assignments", "staff_audit", "staff_logins", "staff_sessions"):
        op.drop_table(table)
    op.drop_table("staff_users")
