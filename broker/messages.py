"""Agency messages, checked against the handoff's state and the sender's role, de-duplicated, applied once.

Whatever the transport (an adapter's poll or inbox, the agency API, a phone call recorded by the
central office), a message takes the same path. What an agency's own system may do is narrower
than what the central office may record (broker.lifecycle.AGENCY_MOVES); a transfer to another
agency is a request the central office decides, unless the two agencies are configured as
transfer partners.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from broker import deadlines, events, followup, metrics, transfers
from broker.config import Directory
from broker.errors import Throttled, Unprocessable
from broker.ids import new_id
from broker.lifecycle import all_answered, next_handoff_state
from broker.settings import Settings
from broker.store.cases import CaseGlance, move_case
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff, found, load, update_handoff
from broker.store.tables import agency_messages, cases, handoffs
from broker.throttle import TokenBuckets
from schemas import AgencyMessage, FollowupReason, HandoffState, MessageKind

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording a message: its id, the handoff's state, and if it was a repeat."""

    message_id: str
    handoff_state: str
    duplicate: bool


@dataclass(frozen=True)
class Sender:
    """Who a message comes from: an agency's own system (API, adapter) or the central office recording it."""

    actor: str
    source: str
    agency_id: str | None = None
    """Set for an agency's own system: only its handoffs exist for it, and it may do less."""


def dedup_key(message: AgencyMessage, idempotency_key: str | None) -> str:
    """The caller's Idempotency-Key, or a digest of what the message says (so a re-post is one)."""
    if idempotency_key:
        return f"key:{idempotency_key}"
    digest = hashlib.sha256(f"{message.kind}\0{message.agency_reference}\0{message.text}".encode()).hexdigest()
    return f"sha:{digest[:40]}"


class Limits:
    """How many messages an agency may send: per agency and per handoff, each a token bucket."""

    def __init__(self, settings: Settings) -> None:
        self.per_agency = TokenBuckets(settings.message_rate, settings.message_burst)
        self.per_handoff = TokenBuckets(settings.message_rate / 10, max(10, settings.message_burst // 10))
        self.cap = settings.messages_per_handoff

    def check(self, agency_id: str, handoff_id: str) -> None:
        """Spend one message of the agency's share; Throttled says when to come back."""
        wait = max(self.per_agency.take(("agency", agency_id)), self.per_handoff.take(("handoff", handoff_id)))
        if wait > 0:
            raise Throttled(f"too many messages from {agency_id}; try again in {wait:.0f} s", retry_after=wait)


def record_message(
    engine: Engine,
    directory: Directory,
    handoff_id: str,
    message: AgencyMessage,
    sender: Sender,
    *,
    idempotency_key: str | None = None,
    dedup: str | None = None,
    limits: Limits | None = None,
) -> Recorded:
    """Apply one agency message.

    With `sender.agency_id`, a handoff of another agency is NotFound and the agency's narrower
    moves apply; an illegal move is InvalidTransition; a repeat (same `dedup` key, same
    Idempotency-Key and body, or same content) returns the first recording and changes nothing.
    """
    key = dedup or dedup_key(message, idempotency_key)
    body = message.model_dump(mode="json", exclude={"handoff"})
    _check_transfer_target(directory, message)
    record = partial(_record, engine, directory, handoff_id, message, sender, key, body, idempotency_key, limits)
    try:
        return record()
    except IntegrityError:
        # the same message committed by another request while this one waited for the handoff's lock,
        # after this one's read began (PostgreSQL): the unique key refused the copy; read again, as a repeat
        return record()


def _record(
    engine: Engine,
    directory: Directory,
    handoff_id: str,
    message: AgencyMessage,
    sender: Sender,
    key: str,
    body: dict[str, Any],
    idempotency_key: str | None,
    limits: Limits | None,
) -> Recorded:
    with transaction(engine) as conn:
        # one statement: the handoff, locked, with its message count (its cap) and a message with this key;
        # an answer's locks the case too (two agencies answering at once then see each other's answer in
        # `_answered`) and reads its state, kind and category for the case's move and the review clock
        answer = message.kind is MessageKind.answered
        lock = _LOCK_COUNT_SEEN_CASE if answer else _LOCK_COUNT_SEEN
        row = conn.execute(lock, {"_id": handoff_id, "_key": key}).first()
        h = found(row, handoff_id, sender.agency_id)
        assert row is not None
        case_row = CaseGlance(row.case_state, row.case_kind, row.case_category) if answer else None
        count, seen = row.message_count, row.seen_message
        if seen is not None:
            if idempotency_key and _data(conn, seen) != body:
                raise Unprocessable("was used before with a different message", field="Idempotency-Key")
            return Recorded(seen, h.state, duplicate=True)
        by_agency = sender.agency_id is not None
        if by_agency:
            _check_agency_limits(h, message, limits, count)
        state = next_handoff_state(h.state, message.kind.value, by_agency=by_agency).value
        message_id = new_id("m")
        conn.execute(
            _INSERT,
            {
                "id": message_id,
                "handoff_id": handoff_id,
                "kind": message.kind.value,
                "text": message.text,
                "agency_reference": message.agency_reference,
                "sent_at": message.sent_at,
                "source": sender.source,
                "actor": sender.actor,
                "dedup_key": key,
                "data": body,
                "created_at": now(),
            },
        )
        values: dict[str, Any] = {"state": state}
        if message.agency_reference:
            values["agency_reference"] = message.agency_reference
        if h.state == HandoffState.outcome_unknown:
            values["uncertain"] = False  # the agency's own word: it has the case
        values.update(_followup(conn, h, message, state))
        values.update(deadlines.on_message(conn, directory.sla, h, message.kind, state, sender.actor, case=case_row))
        update_handoff(conn, handoff_id, values, expect=h.state)
        said = {
            "type": f"message.{message.kind.value}",
            "case_id": h.case_id,
            "handoff_id": handoff_id,
            "actor": sender.actor,
            "data": {
                "agency": h.agency_id,
                "source": sender.source,
                "text": message.text,
                "agency_reference": message.agency_reference,
                "attachments": [a.model_dump(mode="json") for a in message.attachments],
                "handoff_state": state,
            },
        }
        # an answer's case event goes in the same statement, after the message's own
        answered = _answered(conn, h, sender, case_row) if case_row is not None else []
        events.append_many(conn, [said, *answered])
        _transfer_request(conn, directory, replace(h, state=state), message, sender)
    log.info("message.recorded", handoff=handoff_id, case=h.case_id, kind=message.kind.value, source=sender.source)
    metrics.message_recorded(sender.source, message.kind.value)
    return Recorded(message_id, state, duplicate=False)


def _check_transfer_target(directory: Directory, message: AgencyMessage) -> None:
    if message.transfer_to is not None and message.transfer_to not in directory.agencies:
        raise Unprocessable(f"unknown agency '{message.transfer_to}'", field="transfer_to")


_OF_HANDOFF = agency_messages.c.handoff_id == handoffs.c.id
_COUNT_SEEN = (
    handoffs,
    select(func.count()).where(_OF_HANDOFF).scalar_subquery().label("message_count"),
    select(agency_messages.c.id)
    .where(_OF_HANDOFF, agency_messages.c.dedup_key == bindparam("_key"))
    .scalar_subquery()
    .label("seen_message"),
)
_LOCK_COUNT_SEEN = select(*_COUNT_SEEN).where(handoffs.c.id == bindparam("_id")).with_for_update(of=handoffs)
"""A handoff, locked, with its message count and the message with a dedup key, if any (built once).

On PostgreSQL the counts are read as the statement began, before the lock was granted: a message
committed meanwhile is not among them. Its copy then fails the unique (handoff, dedup key) and
`record_message` reads again; the cap may be passed by as many messages as arrive at that instant."""
_LOCK_COUNT_SEEN_CASE = (
    select(
        *_COUNT_SEEN,
        cases.c.state.label("case_state"),
        cases.c.kind.label("case_kind"),
        cases.c.category.label("case_category"),
    )
    .join(cases, cases.c.id == handoffs.c.case_id)
    .where(handoffs.c.id == bindparam("_id"))
    .with_for_update(of=[handoffs, cases])
)
"""The same for an answer, with its case locked too, in one statement where an answer took two: the
handoff's row, then the case's, the order review and delivery take them in."""
_INSERT = insert(agency_messages)
_OTHER_STATES = select(handoffs.c.state).where(
    handoffs.c.case_id == bindparam("case"), handoffs.c.id != bindparam("handoff")
)


def _data(conn: Connection, message_id: str) -> Any:
    return conn.execute(select(agency_messages.c.data).where(agency_messages.c.id == message_id)).scalar_one()


def _check_agency_limits(h: Handoff, message: AgencyMessage, limits: Limits | None, count: int) -> None:
    """What an agency's own system may not do, beyond the lifecycle's table (`count`: the handoff's messages)."""
    if message.kind is MessageKind.transfer_requested and message.transfer_to == h.agency_id:
        raise Unprocessable("the case is already with this agency", field="transfer_to")
    if limits is None:
        return
    if count >= limits.cap:
        raise Throttled(f"handoff '{h.id}' has {count} messages already; the central office follows up", 3600.0)
    limits.check(h.agency_id, h.id)


def _followup(conn: Connection, h: Handoff, message: AgencyMessage, state: str) -> dict[str, Any]:
    """Whether the handoff stays on the follow-up queue, and why."""
    kind = message.kind
    if kind is MessageKind.rejected:
        return followup.flag(h, FollowupReason.rejected, f"rejected by the agency: {message.text[:300]}")
    if kind is MessageKind.transfer_requested:
        if message.transfer_to is None:
            note = f"transfer requested; choose the agency: {message.text[:300]}"
            return followup.flag(h, FollowupReason.transfer_needs_agency, note)
        note = f"transfer to {message.transfer_to} requested: approve or refuse. {message.text[:300]}"
        return followup.flag(h, FollowupReason.transfer_requested, note)
    if state == HandoffState.answered:
        return followup.cleared(conn, h, *followup.ALL, state=state)
    settled = (FollowupReason.delivery_failed, FollowupReason.outcome_unknown, FollowupReason.rejected)
    if h.manual and h.followup_reason == FollowupReason.manual:
        return {"followup": followup.manual_note(f"{kind.value} recorded; chase the answer")}
    return followup.cleared(conn, h, *settled, state=state)


def _answered(conn: Connection, h: Handoff, sender: Sender, case_row: CaseGlance) -> list[dict[str, Any]]:
    """An answer's move of its case (`case_row`: read under its lock): answered once every handoff is.

    Returns the `case.answered` event to record, if the case moved.
    """
    others = conn.execute(_OTHER_STATES, {"case": h.case_id, "handoff": h.id}).scalars()
    if not all_answered(others):
        return []
    state = move_case(conn, h.case_id, "answer", state=case_row.state)
    return [
        {
            "type": "case.answered",
            "case_id": h.case_id,
            "handoff_id": None,
            "actor": sender.actor,
            "data": {"case_state": state},
        }
    ]


def _transfer_request(
    conn: Connection, directory: Directory, h: Handoff, message: AgencyMessage, sender: Sender
) -> None:
    """What a transfer request means for the case beyond its handoff."""
    if message.kind is MessageKind.transfer_requested and message.transfer_to is not None:
        request = {"to": message.transfer_to, "text": message.text, "by": sender.actor, "at": now().isoformat()}
        update_handoff(conn, h.id, {"transfer_request": request})
        if sender.agency_id is None or message.transfer_to in directory.agency(h.agency_id).transfer_partners:
            transfers.transfer(conn, directory, load(conn, h.id), message.transfer_to, actor=sender.actor)
