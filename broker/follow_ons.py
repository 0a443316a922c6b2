"""Follow-on messages: what the hub tells an agency about a handoff after delivering it.

Each one is a row written in the transaction of its cause (a returned answer, the citizen's
reply, a reminder, a cancellation, a transfer away, the case closed) with outbox work of its own,
so it is sent through the agency's adapter with retries, its own idempotency key (its id) and
events, exactly like a delivery. An agency whose adapter cannot carry a kind (or a manual agency)
gets it through an officer instead: the message waits on the follow-up queue until an officer
records that it was passed on. Nothing is dropped.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, insert, select, update

from adapters.errors import DeliveryError, PermanentDeliveryError, RetriableDeliveryError
from broker import circuit, events, followup, isolation, outbox
from broker.config import Directory
from broker.envelopes import conversations, follow_on_envelope
from broker.errors import InvalidTransition, NotFound
from broker.hub import Hub
from broker.ids import new_id
from broker.outbox import FOLLOW_ON
from broker.retry import backoff
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff, load, update_handoff
from broker.store.tables import cases, follow_ons, handoffs, sent_messages
from schemas import (
    Attachment,
    FollowOn,
    FollowOnEnvelope,
    FollowOnKind,
    FollowupReason,
    Receipt,
    ReminderDetail,
    Satisfaction,
)

log = structlog.get_logger(__name__)


class FollowOnState(StrEnum):
    """Where a follow-on message is."""

    pending = "pending"
    """Waiting to go out through the agency's adapter."""
    sent = "sent"
    for_officer = "for_officer"
    """On the follow-up queue: an officer passes it on by phone, letter or e-mail."""
    passed_on = "passed_on"


def create(
    conn: Connection,
    directory: Directory,
    h: Handoff,
    kind: FollowOnKind,
    *,
    text_ar: str,
    text_en: str,
    actor: str,
    text: str = "",
    attachments: list[Attachment] | None = None,
    reminder: ReminderDetail | None = None,
    transfer_to: str | None = None,
    satisfaction: Satisfaction | None = None,
) -> str:
    """Queue one follow-on message for `h` in the caller's transaction; returns its id."""
    adapter = directory.adapter(h.agency_id)
    message = FollowOn(
        id=new_id("f"),
        kind=kind,
        text_ar=text_ar,
        text_en=text_en,
        text=text,
        attachments=attachments or [],
        reminder=reminder,
        transfer_to=transfer_to,
        satisfaction=satisfaction,
        created_at=now(),
    )
    caps = adapter.capabilities
    carried = not caps.manual and kind in caps.follow_ons and (caps.attachments or not message.attachments)
    state = FollowOnState.pending if carried else FollowOnState.for_officer
    at = now()
    conn.execute(
        insert(follow_ons).values(
            id=message.id,
            handoff_id=h.id,
            kind=kind.value,
            state=state.value,
            payload=message.model_dump(mode="json"),
            attempts=0,
            created_at=at,
            updated_at=at,
        )
    )
    if carried:
        outbox.enqueue(conn, [(FOLLOW_ON, message.id, h.agency_id)])
    else:
        note = f"pass on to the agency: {text_en} / أبلغ الجهة: {text_ar}"
        update_handoff(conn, h.id, followup.flag(h, FollowupReason.follow_on, note[:1000]) or {})
    events.append(
        conn,
        type="follow_on.queued",
        case_id=h.case_id,
        handoff_id=h.id,
        actor=actor,
        follow_on=message.id,
        kind=kind.value,
        agency=h.agency_id,
        by_officer=not carried,
    )
    return message.id


@dataclass
class _Job:
    follow_on: FollowOn
    h: Handoff
    envelope: FollowOnEnvelope
    attempt: int
    token: str
    outcome: Receipt | DeliveryError | None = None
    crashed: bool = False


def send(hub: Hub, claims: list[tuple[str, str]]) -> None:
    """Send the follow-on messages of one broker message, given as (follow-on id, claim token) pairs.

    As `dispatch.deliver`: one after another, the leases of those still to send kept, and the first
    the agency does not take ends the message (see `isolation.unanswered`).
    """
    todo = deque(_claim(hub, claims))
    renewed = time.monotonic()
    while todo:
        if time.monotonic() - renewed > hub.settings.lease_seconds / 4:
            todo = _renew(hub, todo)
            renewed = time.monotonic()
            continue
        job = todo.popleft()
        _attempt(hub, job)
        _settle(hub, job)
        if isolation.unanswered(job.outcome, job.crashed):
            with transaction(hub.engine) as conn:
                outbox.give_back(conn, FOLLOW_ON, {later.follow_on.id: later.token for later in todo})
            return


def _renew(hub: Hub, jobs: deque[_Job]) -> deque[_Job]:
    """The jobs whose claims this worker still holds, their leases pushed on (the others went to another)."""
    with transaction(hub.engine) as conn:
        claims = {job.follow_on.id: job.token for job in jobs}
        kept = outbox.renew(conn, FOLLOW_ON, claims, hub.settings.lease_seconds)
    return deque(job for job in jobs if job.follow_on.id in kept)


def _claim(hub: Hub, claims: list[tuple[str, str]]) -> list[_Job]:
    with transaction(hub.engine) as conn:
        taken = outbox.take_many(conn, FOLLOW_ON, claims, hub.settings.lease_seconds)
        if not taken:
            return []
        rows = conn.execute(
            select(
                follow_ons.c.id.label("follow_on_id"),
                follow_ons.c.state.label("follow_on_state"),
                follow_ons.c.payload.label("message"),
                handoffs,
                cases.c.payload,
            )
            .join(handoffs, handoffs.c.id == follow_ons.c.handoff_id)
            .join(cases, cases.c.id == handoffs.c.case_id)
            .where(follow_ons.c.id.in_(sorted(taken)))
        ).all()
        live = [row for row in rows if row.follow_on_state == FollowOnState.pending]
        finished = [row.follow_on_id for row in rows if row.follow_on_state != FollowOnState.pending]
        outbox.done(conn, FOLLOW_ON, finished)
        said = conversations(conn, [row.id for row in live])
    jobs = []
    for row in live:
        h, message, claim = Handoff.from_row(row), FollowOn.model_validate(row.message), taken[row.follow_on_id]
        env = follow_on_envelope(hub, h, row.payload, said[h.id], message, attempt=claim.attempt)
        jobs.append(_Job(message, h, env, claim.attempt, claim.token))
    return jobs


def _attempt(hub: Hub, job: _Job) -> None:
    adapter = hub.directory.adapter(job.h.agency_id)
    try:
        job.outcome = isolation.bounded(hub, job.h.agency_id, lambda: adapter.follow_on(job.envelope))
    except Exception as exc:
        classified = adapter.classify(exc)
        if classified is None:
            log.exception("follow_on.adapter_crashed", follow_on=job.follow_on.id, agency=job.h.agency_id)
            job.crashed = True
            classified = RetriableDeliveryError(f"adapter error: {type(exc).__name__}")
        job.outcome = classified


def _settle(hub: Hub, job: _Job) -> None:
    s = hub.settings
    f, h, outcome = job.follow_on, job.h, job.outcome
    with transaction(hub.engine) as conn:
        if f.id not in outbox.holding(conn, FOLLOW_ON, {f.id: job.token}):
            return  # a stale claim: someone else settles it
        if not job.crashed and outcome is not None:
            circuit.record(conn, s, h.agency_id, outcome)
        if isinstance(outcome, Receipt):
            _write(conn, f.id, FollowOnState.sent, job.attempt)
            if outcome.message_id:
                conn.execute(
                    insert(sent_messages).values(
                        message_id=outcome.message_id, handoff_id=h.id, follow_on_id=f.id, created_at=now()
                    )
                )
            events.append(
                conn,
                type="follow_on.sent",
                case_id=h.case_id,
                handoff_id=h.id,
                actor="hub",
                follow_on=f.id,
                kind=f.kind,
            )
            outbox.done(conn, FOLLOW_ON, [f.id])
            log.info("follow_on.sent", follow_on=f.id, kind=f.kind.value, handoff=h.id, agency=h.agency_id)
            return
        assert isinstance(outcome, DeliveryError)
        if isinstance(outcome, PermanentDeliveryError) or job.attempt >= s.max_attempts:
            _to_officer(conn, h, f, str(outcome), job.attempt)
            outbox.done(conn, FOLLOW_ON, [f.id])
            return
        retry_after = outcome.retry_after if isinstance(outcome, RetriableDeliveryError) else None
        conn.execute(
            update(follow_ons)
            .where(follow_ons.c.id == f.id)
            .values(attempts=job.attempt, last_error=str(outcome), updated_at=now())
        )
        outbox.postpone(conn, FOLLOW_ON, f.id, backoff(job.attempt, s.backoff_base, s.backoff_cap, retry_after))


def _write(conn: Connection, follow_on_id: str, state: FollowOnState, attempts: int, error: str | None = None) -> None:
    conn.execute(
        update(follow_ons)
        .where(follow_ons.c.id == follow_on_id)
        .values(state=state.value, attempts=attempts, last_error=error, updated_at=now())
    )


def _to_officer(conn: Connection, h: Handoff, f: FollowOn, error: str, attempts: int) -> None:
    """The adapter could not send it: an officer passes it on, and the queue says so."""
    _write(conn, f.id, FollowOnState.for_officer, attempts, error)
    current = load(conn, h.id, lock=True)
    note = f"could not send '{f.kind.value}' ({error}): pass it on by hand / تعذّر الإرسال: أبلغ الجهة يدويًا"
    update_handoff(conn, h.id, followup.flag(current, FollowupReason.follow_on, note[:1000]) or {})
    events.append(
        conn,
        type="follow_on.failed",
        case_id=h.case_id,
        handoff_id=h.id,
        actor="hub",
        follow_on=f.id,
        kind=f.kind.value,
        reason=error,
    )
    log.warning("follow_on.failed", follow_on=f.id, handoff=h.id, agency=h.agency_id, reason=error)


def passed_on(engine: Engine, follow_on_id: str, actor: str, note: str = "") -> None:
    """An officer passed a follow-on message on by hand; the handoff leaves the queue if nothing else holds it."""
    with transaction(engine) as conn:
        row = conn.execute(select(follow_ons).where(follow_ons.c.id == follow_on_id).with_for_update()).first()
        if row is None:
            raise NotFound(f"no follow-on message '{follow_on_id}'")
        if row.state != FollowOnState.for_officer:
            raise InvalidTransition("follow-on message", row.state, "be marked as passed on")
        _write(conn, follow_on_id, FollowOnState.passed_on, row.attempts, row.last_error)
        h = load(conn, row.handoff_id, lock=True)
        update_handoff(conn, h.id, followup.cleared(conn, h, FollowupReason.follow_on) or {})
        events.append(
            conn,
            type="follow_on.passed_on",
            case_id=h.case_id,
            handoff_id=h.id,
            actor=actor,
            follow_on=follow_on_id,
            kind=row.kind,
            note=note,
        )


def waiting_for_officer(conn: Connection, handoff_id: str) -> list[dict[str, Any]]:
    """The follow-on messages of a handoff an officer has to pass on, oldest first."""
    rows = conn.execute(
        select(follow_ons)
        .where(follow_ons.c.handoff_id == handoff_id, follow_ons.c.state == FollowOnState.for_officer.value)
        .order_by(follow_ons.c.created_at)
    )
    return [dict(r._mapping) for r in rows]
