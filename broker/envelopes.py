"""What adapters are given: envelopes built from handoff rows, cut to what each agency may see.

Data minimisation lives here, once, for every adapter: an agency receives the citizen's details
its `share` policy lists (by default the name only), and the exact address (building, map point)
only when it lists `address`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, select

from broker.hub import Hub
from broker.reply_tokens import make as reply_token
from broker.sla import SlaPolicy
from broker.store.handoffs import Handoff
from broker.store.tables import agency_messages, follow_ons, sent_messages
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


_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_SAID = select(
    agency_messages.c.handoff_id, agency_messages.c.kind, agency_messages.c.text, agency_messages.c.created_at
).where(agency_messages.c.handoff_id.in_(_IDS))
_TOLD = select(follow_ons.c.handoff_id, follow_ons.c.kind, follow_ons.c.payload, follow_ons.c.created_at).where(
    follow_ons.c.handoff_id.in_(_IDS)
)
_THREAD = (
    select(sent_messages.c.handoff_id, sent_messages.c.message_id)
    .where(sent_messages.c.handoff_id.in_(_IDS))
    .order_by(sent_messages.c.created_at)
)
"""A conversation's three reads, built once (every delivery runs them)."""


def conversations(conn: Connection, handoff_ids: list[str]) -> dict[str, Conversation]:
    """The conversation of each handoff, in three queries for all of them."""
    found: dict[str, Conversation] = defaultdict(Conversation)
    if not handoff_ids:
        return found
    items: list[tuple[str, HistoryItem]] = []
    for said in conn.execute(_SAID, {"ids": handoff_ids}):
        item = HistoryItem(at=said.created_at, direction="from_agency", kind=said.kind, text=said.text)
        items.append((said.handoff_id, item))
    for told in conn.execute(_TOLD, {"ids": handoff_ids}):
        text = told.payload.get("text") or told.payload.get("text_en", "")
        items.append(
            (told.handoff_id, HistoryItem(at=told.created_at, direction="to_agency", kind=told.kind, text=text))
        )
    for handoff_id, item in sorted(items, key=lambda pair: pair[1].at):
        found[handoff_id].history.append(item)
    for sent_id in conn.execute(_THREAD, {"ids": handoff_ids}):
        found[sent_id.handoff_id].thread.append(sent_id.message_id)
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
