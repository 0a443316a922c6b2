"""What adapters are given: envelopes built from handoff rows, cut to what each agency may see.

Data minimisation lives here, once, for every adapter: an agency receives the citizen's details
its `share` policy lists (by default the name only), and the exact address (building, map point)
only when it lists `address`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, String, Text, cast, exists, literal, or_, select, text, union_all

from broker.hub import Hub
from broker.reply_tokens import make as reply_token
from broker.sla import SlaPolicy
from broker.store.handoffs import Handoff
from broker.store.lists import one_of
from broker.store.tables import agency_messages, follow_ons, handoffs, sent_messages
from schemas import AgencyConfig, Envelope, FollowOn, FollowOnEnvelope, HandoffClocks, HistoryItem, SharedCase

_CONTACTS = ("name", "cpr", "mobile", "email")
_ADDRESS = ("building", "lat", "lon")


def shared_case(payload: dict[str, Any], agency: AgencyConfig) -> SharedCase:
    """The case as `agency` may see it."""
    share = set(agency.share.citizen)
    citizen = payload.get("citizen") or {}
    shared: dict[str, Any] = {k: citizen[k] for k in _CONTACTS if k in share and citizen.get(k) is not None}
    shared["preferred_language"] = citizen.get("preferred_language", "ar")
    location = payload.get("location")
    if location is not None and "address" not in share:
        location = {k: v for k, v in location.items() if k not in _ADDRESS}
    return SharedCase.model_validate({**payload, "citizen": shared, "location": location})


def clocks(policy: SlaPolicy, h: Handoff) -> HandoffClocks:
    """A handoff's deadlines in UTC and in the working calendar's zone."""
    cal = policy.calendar
    return HandoffClocks(
        acknowledge_by=h.ack_due_at,
        answer_by=h.answer_due_at,
        acknowledge_by_local=cal.local(h.ack_due_at) if h.ack_due_at else None,
        answer_by_local=cal.local(h.answer_due_at) if h.answer_due_at else None,
        answer_by_day=cal.due_day(h.answer_due_at).isoformat() if h.answer_due_at else None,
    )


@dataclass
class Conversation:
    """What was said on a handoff so far, either way, and the transport ids of what the hub sent."""

    history: list[HistoryItem] = field(default_factory=list)
    thread: list[str] = field(default_factory=list)


_NOTHING = literal(None, String)
_CONVERSATION = union_all(
    select(
        agency_messages.c.handoff_id,
        literal("said").label("what"),
        agency_messages.c.kind,
        agency_messages.c.text,
        _NOTHING.label("payload"),
        _NOTHING.label("message_id"),
        agency_messages.c.created_at,
    ).where(one_of(agency_messages.c.handoff_id, "ids")),
    select(
        follow_ons.c.handoff_id,
        literal("told"),
        follow_ons.c.kind,
        _NOTHING,
        cast(follow_ons.c.payload, Text),
        _NOTHING,
        follow_ons.c.created_at,
    ).where(one_of(follow_ons.c.handoff_id, "ids")),
    select(
        sent_messages.c.handoff_id,
        literal("sent"),
        _NOTHING,
        _NOTHING,
        _NOTHING,
        sent_messages.c.message_id,
        sent_messages.c.created_at,
    ).where(one_of(sent_messages.c.handoff_id, "ids")),
).order_by(text("created_at"), text("what"))
"""What each handoff's agency said, what it was told and the hub's sent-message ids: one statement, built
once (every delivery runs it; three statements cost a delivery more than its HTTP call)."""


SAID = or_(
    *(exists().where(table.c.handoff_id == handoffs.c.id) for table in (agency_messages, follow_ons, sent_messages))
).label("said")
"""Whether a handoff has a conversation yet, as a column of a statement that reads `handoffs`.

A first delivery has none: a claim that reads this with its handoffs skips `conversations`, a
statement of its own that took about 6 % of a delivery's CPU in its worker (profiled) to find nothing."""


def conversations(conn: Connection, handoff_ids: list[str]) -> dict[str, Conversation]:
    """The conversation of each handoff, in one query for all of them."""
    found: dict[str, Conversation] = defaultdict(Conversation)
    if not handoff_ids:
        return found
    for row in conn.execute(_CONVERSATION, {"ids": handoff_ids}):
        said = found[row.handoff_id]
        if row.what == "sent":
            said.thread.append(row.message_id)
        elif row.what == "said":
            said.history.append(HistoryItem(at=row.created_at, direction="from_agency", kind=row.kind, text=row.text))
        else:
            payload = json.loads(row.payload)
            words = payload.get("text") or payload.get("text_en", "")
            said.history.append(HistoryItem(at=row.created_at, direction="to_agency", kind=row.kind, text=words))
    return found


def envelope(
    hub: Hub, h: Handoff, payload: dict[str, Any], said: Conversation, *, attempt: int, key: str | None = None
) -> Envelope:
    """The envelope for delivering `h` (attempt `attempt`); its idempotency key is the handoff's id."""
    agency = hub.directory.agency(h.agency_id)
    secret = hub.settings.reply_secret.get_secret_value() if hub.settings.reply_secret else None
    return Envelope(
        handoff_id=h.id,
        case_id=h.case_id,
        idempotency_key=key or h.id,
        attempt=attempt,
        agency=agency,
        case=shared_case(payload, agency),
        reply_token=reply_token(secret, h.id),
        agency_reference=h.agency_reference,
        clocks=clocks(hub.directory.sla, h),
        round=h.round,
        history=said.history,
        thread=said.thread,
    )


def follow_on_envelope(
    hub: Hub, h: Handoff, payload: dict[str, Any], said: Conversation, follow_on: FollowOn, *, attempt: int
) -> FollowOnEnvelope:
    """The envelope for one follow-on message about `h`; its idempotency key is the follow-on's id."""
    base = envelope(hub, h, payload, said, attempt=attempt, key=follow_on.id)
    return FollowOnEnvelope(**dict(base), follow_on=follow_on)
