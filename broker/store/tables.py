"""The store's tables (SQLAlchemy Core): the database is the truth, the broker only a wake-up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    bindparam,
    literal,
    text,
)
from sqlalchemy.engine import Dialect

from schemas import OPEN_STATES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores instants in UTC and gives them back aware (SQLite would drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive times; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Give back an aware UTC time."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id = BigInteger().with_variant(Integer, "sqlite")
"""Autoincrement ids: BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite."""

cases = Table(
    "cases",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("reference", String(64), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("category", String(80), nullable=False),
    Column("state", String(20), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),  # for a closed case: when it closed
    Column("anonymised_at", UTCDateTime, nullable=True),  # broker.retention removed its personal data
    Index("ix_cases_created_at", "created_at", "id"),  # exports of a period, in order
)

AWAITING_RETENTION = and_(cases.c.state == literal("closed", literal_execute=True), cases.c.anonymised_at.is_(None))
"""Closed cases whose personal data is still there (a literal state, so PostgreSQL uses the index below)."""

Index("ix_cases_retention", cases.c.updated_at, postgresql_where=AWAITING_RETENTION, sqlite_where=AWAITING_RETENTION)


handoffs = Table(
    "handoffs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id"), nullable=False, index=True),
    Column("agency_id", String(80), nullable=False),
    Column("adapter", String(40), nullable=False),
    Column("manual", Boolean, nullable=False, default=False),  # the adapter's capabilities.manual at creation
    Column("state", String(20), nullable=False),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("round", Integer, nullable=False, default=1),  # one more each time the case comes back to the agency
    Column("uncertain", Boolean, nullable=False, default=False),  # an attempt may have reached the agency
    # the follow-up queue (broker.followup is the only writer): why, a note for people, since when
    Column("followup_reason", String(30), nullable=True),
    Column("followup", Text, nullable=True),
    Column("followup_since", UTCDateTime, nullable=True),
    Column("transfer_request", JSON, nullable=True),  # the agency's "not ours", waiting for a decision
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("agency_reference", String(100), nullable=True),
    Column("transferred_from", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # deadlines (broker.deadlines): stored at creation, moved by pauses and extensions
    Column("ack_due_at", UTCDateTime, nullable=True),
    Column("answer_due_at", UTCDateTime, nullable=True),
    Column("answer_allowed", Float, nullable=True),  # working seconds granted to answer, extensions included
    Column("review_due_at", UTCDateTime, nullable=True),
    Column("warn_at", UTCDateTime, nullable=True),
    Column("next_check_at", UTCDateTime, nullable=True),  # when the sweep must look again; NULL: never
    Column("paused_at", UTCDateTime, nullable=True),
    Column("remaining", Float, nullable=True),  # working seconds left when the clock paused
    Column("acknowledged_at", UTCDateTime, nullable=True),
    Column("answered_at", UTCDateTime, nullable=True),
    Column("warned", Boolean, nullable=False, default=False),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("deadline_version", Integer, nullable=False, default=0),  # claims: bumped by every deadline change
    Column("extension_request", JSON, nullable=True),
    Index("ix_handoffs_agency_state", "agency_id", "state"),
    Index(
        "ix_handoffs_next_check_at",
        "next_check_at",
        postgresql_where=text("next_check_at IS NOT NULL"),
        sqlite_where=text("next_check_at IS NOT NULL"),
    ),
    Index(
        "ix_handoffs_followup_reason",
        "followup_reason",
        "followup_since",
        postgresql_where=text("followup_reason IS NOT NULL"),
        sqlite_where=text("followup_reason IS NOT NULL"),
    ),
)

OPEN_HANDOFF = handoffs.c.state.in_(
    bindparam("open_states", sorted(s.value for s in OPEN_STATES), expanding=True, literal_execute=True)
)
"""Open handoffs, with the states written as literals so PostgreSQL matches ix_handoffs_open under any plan."""

Index(
    "ix_handoffs_open",
    handoffs.c.agency_id,
    handoffs.c.state,
    handoffs.c.overdue,
    handoffs.c.escalation_level,
    postgresql_where=OPEN_HANDOFF,
    sqlite_where=OPEN_HANDOFF,
)  # the metrics' counts per agency read only open handoffs (broker.gauges)

agency_messages = Table(
    "agency_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("handoff_id", String(32), ForeignKey("handoffs.id"), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("text", Text, nullable=False),
    Column("agency_reference", String(100), nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("source", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("dedup_key", String(200), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("handoff_id", "dedup_key"),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("position", BigInteger, nullable=True, unique=True),
    Column("case_id", String(32), nullable=False, index=True),
    Column("handoff_id", String(32), nullable=True),
    Column("type", String(60), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(
        "ix_events_unsequenced",
        "id",
        postgresql_where=text("position IS NULL"),
        sqlite_where=text("position IS NULL"),
    ),
)
"""Append-only audit trail. `position` is given after commit by one sequencer, so a feed reader
paging by position never skips an event whose transaction committed late."""

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("topic", String(30), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("agency_id", String(80), nullable=True),
    Column("due_at", UTCDateTime, nullable=False, index=True),
    Column("token", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("topic", "ref"),
    Index("ix_outbox_agency_due", "agency_id", "due_at"),  # per-agency claims (broker.isolation)
)
"""Work for the broker, written in the same transaction as its cause; a row lives until the work
is done, and the relay publishes it again whenever `due_at` passes (lost message, dead worker,
retry delay)."""

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("position", BigInteger, nullable=False, default=0),
    Column("value", Text, nullable=True),  # an opaque cursor (an agency's inbox: UIDVALIDITY and UID, say)
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)
"""Where each reader has got to: the webhook in the event feed (`position`), each agency's poll pass
(`poll:<agency>`: the last handoff id) and inbox (`inbox:<agency>`: the adapter's opaque cursor)."""

follow_ons = Table(
    "follow_ons",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("handoff_id", String(32), ForeignKey("handoffs.id"), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("state", String(20), nullable=False),  # broker.follow_ons.FollowOnState
    Column("payload", JSON, nullable=False),  # the FollowOn as sent
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Follow-on messages to agencies (citizen replies, returned answers, reminders, cancellations…)."""

sent_messages = Table(
    "sent_messages",
    metadata,
    Column("message_id", String(250), primary_key=True),
    Column("handoff_id", String(32), ForeignKey("handoffs.id"), nullable=False, index=True),
    Column("follow_on_id", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
"""Transport ids of what the hub sent (a mail's Message-ID), so a reply that quotes one finds its handoff."""

inbound_log = Table(
    "inbound_log",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("agency_id", String(80), nullable=False),
    Column("dedup_key", String(200), nullable=False),
    Column("disposition", String(20), nullable=False),  # unmatched, bounce, auto_reply
    Column("handoff_id", String(32), nullable=True),  # what it was about (an officer's choice, for unmatched)
    Column("reason", Text, nullable=False),
    Column("sender", String(300), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("resolved_by", String(200), nullable=True),
    UniqueConstraint("agency_id", "dedup_key"),
    Index(
        "ix_inbound_log_unresolved",
        "created_at",
        postgresql_where=text("resolved_at IS NULL"),
        sqlite_where=text("resolved_at IS NULL"),
    ),
)
"""What came in from agencies that is not an agency message: bounces and auto-replies (recorded on
their handoff), and what names no handoff or carries a token that does not verify (the central
office's review list). Each is taken once: (agency, dedup key) is unique."""

inbound_files = Table(
    "inbound_files",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("handoff_id", String(32), ForeignKey("handoffs.id"), nullable=False, index=True),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(120), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
"""Files that came with an agency's message as bytes (mail attachments); served to the national system."""

agency_circuits = Table(
    "agency_circuits",
    metadata,
    Column("agency_id", String(80), primary_key=True),
    Column("state", String(10), nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("reopened", Integer, nullable=False),
    Column("opened_at", UTCDateTime, nullable=True),
    Column("opened_until", UTCDateTime, nullable=True),
    Column("probe_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Each agency's circuit breaker (broker.circuit); an agency without a row is closed."""

agency_keys = Table(
    "agency_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("agency_id", String(80), nullable=False, index=True),
    Column("lookup", String(32), nullable=False, unique=True),
    Column("hash", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("created_by", String(200), nullable=False),
)
"""Agencies' API keys: the non-secret `lookup` finds the row, `hash` (argon2) checks the secret."""


agency_adapters = Table(
    "agency_adapters",
    metadata,
    Column("agency_id", String(80), primary_key=True),
    Column("adapter", JSON, nullable=False),  # the adapter block as in agencies.yaml: kind plus settings
    Column("shadow", JSON, nullable=True),  # broker.shadow: a second adapter that receives copies
    Column("version", BigInteger, nullable=False),  # one more than the table's highest at each change
    Column("changed_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Agencies switched by `tawasul-hub agencies onboard`/`offboard`: each row overrides that agency's adapter
in agencies.yaml; running processes notice a new highest `version` and rebuild their directory (broker.hub)."""


shadow_copies = Table(
    "shadow_copies",
    metadata,
    Column("handoff_id", String(32), ForeignKey("handoffs.id"), primary_key=True),
    Column("agency_id", String(80), nullable=False, index=True),
    Column("state", String(20), nullable=False),  # broker.shadow.CopyState
    Column("attempts", Integer, nullable=False, default=0),
    Column("agency_reference", String(100), nullable=True),
    Column("error", Text, nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),  # due (or leased until); NULL once settled
    Column("sent_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Shadow mode (broker.shadow): the copy of each live handoff sent to an agency's new endpoint, on the side."""

shadow_messages = Table(
    "shadow_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("handoff_id", String(32), ForeignKey("handoffs.id"), nullable=False, index=True),
    Column("agency_id", String(80), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("text", Text, nullable=False),
    Column("agency_reference", String(100), nullable=True),
    Column("source", String(40), nullable=False),  # agency-api, or <kind>-poll
    Column("dedup_key", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("handoff_id", "dedup_key"),
)
"""What an agency's endpoint in shadow mode said about its copies; never an agency message of the handoff."""


# --- the central office's console (broker.console) and the citizens' surveys ---------------------

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),  # broker.console.permissions.Role
    Column("password_hash", String(200), nullable=False),  # argon2
    Column("language", String(2), nullable=False, default="ar"),
    Column("digits", String(5), nullable=False, default="arab"),  # arab (Arabic-Indic) or latn
    Column("disabled_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Central office staff who sign in to the console."""

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the cookie's secret: a stolen table opens nothing
    Column("user_id", String(32), ForeignKey("staff_users.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
"""Signed-in console sessions; disabling a user or resetting a password ends them."""

staff_logins = Table(
    "staff_logins",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(80), nullable=False),
    Column("address", String(64), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_staff_logins_username", "username", "created_at"),
    Index("ix_staff_logins_address", "address", "created_at"),
)
"""Sign-in attempts, for throttling (and the record of who signed in when)."""

staff_audit = Table(
    "staff_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("target", String(200), nullable=True),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)
"""The audit trail of what staff do that is not about a case (accounts, sign-ins); case actions are events."""

assignments = Table(
    "assignments",
    metadata,
    Column("handoff_id", String(32), ForeignKey("handoffs.id"), primary_key=True),
    Column("username", String(80), nullable=False, index=True),
    Column("assigned_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
"""Which officer follows up a handoff."""

surveys = Table(
    "surveys",
    metadata,
    Column("case_id", String(32), ForeignKey("cases.id"), primary_key=True),  # once per case
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=False),
    Column("agencies", JSON, nullable=False),  # the agencies whose answers the citizen rated
    Column("created_at", UTCDateTime, nullable=False, index=True),
)
"""The citizen's satisfaction with a case, as the national system reports it."""

queue_samples = Table(
    "queue_samples",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reason", String(30), nullable=False),
    Column("count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)
"""The follow-up queue's size by reason, sampled by the scheduler, for the statistics."""


recurring_groups = Table(
    "recurring_groups",
    metadata,
    Column("id", String(32), primary_key=True),  # g_ + the first case's id (broker.recurring.grouping)
    Column("kind", String(20), nullable=False),
    Column("governorate", String(20), nullable=True),
    Column("block", String(20), nullable=True),
    Column("road", String(20), nullable=True),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("size", Integer, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("faults", JSON, nullable=False),
    Column("centroid", LargeBinary, nullable=False),  # the sum of its cases' vectors, packed
    Column("centroid_norm", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Groups of cases reporting one problem at one place (broker.recurring); rebuilt by `recurring rebuild`."""

recurring_keys = Table(
    "recurring_keys",
    metadata,
    Column("key", String(120), primary_key=True),  # cat:<category> or blk:<governorate>:<block>
    Column("group_id", String(32), primary_key=True),
    Column("last_at", UTCDateTime, nullable=False),
    Index("ix_recurring_keys_key_last_at", "key", "last_at"),
    Index("ix_recurring_keys_group_id", "group_id"),
)
"""The candidate index: groups by key, with their latest report, so attaching reads only recent groups."""

recurring_cases = Table(
    "recurring_cases",
    metadata,
    Column("case_id", String(32), primary_key=True),
    Column("group_id", String(32), nullable=False, index=True),
    Column("seq", Integer, nullable=False, unique=True),  # attachment order: a rebuild replays it
    Column("score", Float, nullable=False),
    Column("at", UTCDateTime, nullable=False),  # when the citizen reported it
    Column("agencies", JSON, nullable=False),
    Column("flagged", Boolean, nullable=False, default=False),  # joined a known recurring problem
    Column("attached_at", UTCDateTime, nullable=False),
)
"""Each grouped case: its group, and the order it was attached in."""

recurring_marks = Table(
    "recurring_marks",
    metadata,
    Column("group_id", String(32), primary_key=True),
    Column("owner_agency", String(80), nullable=False),
    Column("note", Text, nullable=True),
    Column("marked_by", String(200), nullable=False),
    Column("marked_at", UTCDateTime, nullable=False),
)
"""Groups the central office marked as a known recurring problem, with the agency owning the permanent
fix; kept apart from the groups so a rebuild (which names groups the same way) keeps them."""


def row_dict(row: Any) -> dict[str, Any]:
    """A result row as a plain dict."""
    return dict(row._mapping)
