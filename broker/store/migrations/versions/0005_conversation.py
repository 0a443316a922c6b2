"""the conversation with each agency: follow-on messages, inbound cursors and mail, follow-up reasons

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.store.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Instant = broker.store.tables.UTCDateTime

# the free-text reasons written before, and the reason each one means
_REASONS = (
    ("manual%", "manual"),
    ("delivery failed%", "delivery_failed"),
    ("overdue since%", "escalated"),
    ("overdue%", "overdue"),
    ("agency unreachable: circuit open%", "circuit_open"),
    ("rejected%", "rejected"),
    ("transfer requested%", "transfer_needs_agency"),
)


def upgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manual", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("uncertain", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("followup_reason", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("transfer_request", sa.JSON(), nullable=True))
        batch_op.drop_index(
            "ix_handoffs_followup",
            postgresql_where=sa.text("followup IS NOT NULL"),
            sqlite_where=sa.text("followup IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_handoffs_followup_reason",
            ["followup_reason", "followup_since"],
            unique=False,
            postgresql_where=sa.text("followup_reason IS NOT NULL"),
            sqlite_where=sa.text("followup_reason IS NOT NULL"),
        )
    handoffs = sa.table(
        "handoffs",
        sa.column("adapter", sa.String),
        sa.column("manual", sa.Boolean),
        sa.column("followup", sa.Text),
        sa.column("followup_reason", sa.String),
    )
    op.execute(handoffs.update().where(handoffs.c.adapter == "manual").values(manual=True))
    for pattern, reason in _REASONS:
        op.execute(
            handoffs.update()
            .where(handoffs.c.followup.like(pattern), handoffs.c.followup_reason.is_(None))
            .values(followup_reason=reason)
        )
    with op.batch_alter_table("cursors", schema=None) as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(length=40), type_=sa.String(length=120))
        batch_op.add_column(sa.Column("value", sa.Text(), nullable=True))
    op.create_table(
        "follow_ons",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("handoff_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.Column("updated_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], name=op.f("fk_follow_ons_handoff_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ons")),
    )
    with op.batch_alter_table("follow_ons", schema=None) as batch_op:
        batch_op.create_index("ix_follow_ons_handoff_id", ["handoff_id"], unique=False)
    op.create_table(
        "sent_messages",
        sa.Column("message_id", sa.String(length=250), nullable=False),
        sa.Column("handoff_id", sa.String(length=32), nullable=False),
        sa.Column("follow_on_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], name=op.f("fk_sent_messages_handoff_id")),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_sent_messages")),
    )
    with op.batch_alter_table("sent_messages", schema=None) as batch_op:
        batch_op.create_index("ix_sent_messages_handoff_id", ["handoff_id"], unique=False)
    op.create_table(
        "inbound_log",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=80), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("disposition", sa.String(length=20), nullable=False),
        sa.Column("handoff_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sender", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", Instant(timezone=True), nullable=True),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.Column("resolved_at", Instant(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_log")),
        sa.UniqueConstraint("agency_id", "dedup_key", name=op.f("uq_inbound_log_agency_id_dedup_key")),
    )
    with op.batch_alter_table("inbound_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_log_unresolved",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text("resolved_at IS NULL"),
            sqlite_where=sa.text("resolved_at IS NULL"),
        )
    op.create_table(
        "inbound_files",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("handoff_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], name=op.f("fk_inbound_files_handoff_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_files")),
    )
    with op.batch_alter_table("inbound_files", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_files_handoff_id", ["handoff_id"], unique=False)


def downgrade() -> None:
    op.drop_table("inbound_files")
    op.drop_table("inbound_log")
    op.drop_table("sent_messages")
    op.drop_table("follow_ons")
    with op.batch_alter_table("cursors", schema=None) as batch_op:
        batch_op.drop_column("value")
        batch_op.alter_column("name", existing_type=sa.String(length=120), type_=sa.String(length=40))
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_handoffs_followup_reason",
            postgresql_where=sa.text("followup_reason IS NOT NULL"),
            sqlite_where=sa.text("followup_reason IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_handoffs_followup",
            ["followup_since"],
            unique=False,
            postgresql_where=sa.text("followup IS NOT NULL"),
            sqlite_where=sa.text("followup IS NOT NULL"),
        )
        for name in ("transfer_request", "followup_reason", "uncertain", "round", "manual"):
            batch_op.drop_column(name)
