"""The central office's follow-up queue: the one module that decides why a handoff is on it.

A handoff is on the queue while `followup_reason` is set; `followup` holds a note for people and
`followup_since` when it joined. Writers ask this module for the columns to write (`flag`,
`cleared`), so each writer keeps its single guarded UPDATE; the more urgent reason always wins,
and taking one reason off falls back to what still holds (a follow-on message to pass on by hand,
or a manual agency's open handoff).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, cast, func, or_, select, update

from broker import events
from broker.store.engine import now
from broker.store.handoffs import Handoff, load
from broker.store.tables import agency_messages, cases, follow_ons, handoffs
from schemas import Event, FollowupReason, HandoffState

R = FollowupReason

LABELS: dict[FollowupReason, tuple[str, str]] = {
    R.escalated: ("مُصعَّدة", "escalated"),
    R.overdue: ("متأخرة", "overdue"),
    R.delivery_failed: ("تعذّر التسليم", "delivery failed"),
    R.outcome_unknown: ("نتيجة التسليم غير معروفة", "outcome unknown"),
    R.rejected: ("رفضتها الجهة", "rejected by the agency"),
    R.transfer_requested: ("طلب تحويل بانتظار القرار", "transfer requested: decide"),
    R.transfer_needs_agency: ("طلب تحويل دون تحديد الجهة", "transfer requested: choose the agency"),
    R.circuit_open: ("نظام الجهة لا يستجيب", "agency system not answering"),
    R.follow_on: ("رسالة متابعة لإبلاغها يدويًا", "follow-on message to pass on"),
    R.manual: ("جهة غير مربوطة بعد", "agency not connected yet"),
}
"""Each reason in Arabic and English, for the CLI and the console."""

_MANUAL_OPEN = frozenset(s.value for s in (HandoffState.pending, HandoffState.delivering, HandoffState.delivered))
_MANUAL_OPEN |= {HandoffState.acknowledged.value}
ALL = tuple(r for r in FollowupReason if r is not R.follow_on)
"""Every reason an answer or a transfer settles (a follow-on message still waits for its officer)."""


def flag(h: Handoff, reason: FollowupReason, note: str) -> dict[str, Any]:
    """The columns that put `h` on the queue for `reason`; a more urgent reason it already has stays."""
    current = FollowupReason(h.followup_reason) if h.followup_reason else None
    if current is not None and current.rank < reason.rank:
        return {}
    since = h.followup_since if current is not None and h.followup_since is not None else now()
    return {"followup_reason": reason.value, "followup": note, "followup_since": since}


def cleared(conn: Connection, h: Handoff, *reasons: FollowupReason, state: str | None = None) -> dict[str, Any]:
    """The columns that take `reasons` off `h` (in `state`, if it is moving), falling back to what still holds."""
    if h.followup_reason is None or FollowupReason(h.followup_reason) not in reasons:
        return {}
    state = state or h.state
    if _officer_has_follow_ons(conn, h.id):
        return {"followup_reason": R.follow_on.value, "followup": _follow_on_note()}
    if h.manual and state in _MANUAL_OPEN:
        return {"followup_reason": R.manual.value, "followup": manual_note()}
    return {"followup_reason": None, "followup": None, "followup_since": None}


def manual_note(what: str = "") -> str:
    """What an officer does for a manual agency's handoff."""
    done = f"{what}; " if what else ""
    return f"{done}agency not connected: follow up by phone or letter / الجهة غير مربوطة: تابِع بالهاتف أو بخطاب"


def _follow_on_note() -> str:
    return "a follow-on message waits to be passed on / رسالة متابعة بانتظار إبلاغ الجهة"


def _officer_has_follow_ons(conn: Connection, handoff_id: str) -> bool:
    from broker.follow_ons import FollowOnState  # the follow-on module writes through this one

    query = select(follow_ons.c.id).where(
        follow_ons.c.handoff_id == handoff_id, follow_ons.c.state == FollowOnState.for_officer.value
    )
    return conn.execute(query.limit(1)).first() is not None


def park(conn: Connection, agency_id: str, note: str, states: tuple[str, ...]) -> int:
    """Put every handoff of the agency in `states` that is not on the queue on it as circuit_open."""
    return conn.execute(
        update(handoffs)
        .where(handoffs.c.agency_id == agency_id, handoffs.c.state.in_(states), handoffs.c.followup_reason.is_(None))
        .values(followup_reason=R.circuit_open.value, followup=note, followup_since=now(), updated_at=now())
    ).rowcount


@dataclass(frozen=True)
class QueueItem:
    """One line of the follow-up queue."""

    handoff: str
    case: str
    reference: str
    agency: str
    kind: str
    state: str
    overdue: bool
    escalation_level: int
    reason: FollowupReason
    note: str
    since: datetime
    answer_due_at: datetime | None
    subject: str


def _filtered(
    query: Any,
    agency: str | None,
    reason: FollowupReason | None,
    kind: str | None,
    search: str | None,
    escalation: int | None = None,
) -> Any:
    query = query.where(handoffs.c.followup_reason.is_not(None))
    if escalation is not None:
        query = query.where(handoffs.c.escalation_level == escalation)
    if agency:
        query = query.where(handoffs.c.agency_id == agency)
    if reason is not None:
        query = query.where(handoffs.c.followup_reason == reason.value)
    if kind:
        query = query.where(cases.c.kind == kind)
    if search:
        needle = f"%{search.lower()}%"
        query = query.where(
            or_(
                func.lower(cases.c.reference).like(needle),
                func.lower(handoffs.c.id).like(needle),
                func.lower(cast(cases.c.payload, String)).like(needle),
            )
        )
    return query


def queue(
    conn: Connection,
    agency: str | None = None,
    limit: int = 200,
    *,
    reason: FollowupReason | None = None,
    kind: str | None = None,
    search: str | None = None,
    escalation: int | None = None,
    offset: int = 0,
) -> list[QueueItem]:
    """What waits on the central office, soonest due first, optionally filtered."""
    q = select(handoffs, cases.c.reference, cases.c.kind.label("case_kind"), cases.c.payload).join(
        cases, cases.c.id == handoffs.c.case_id
    )
    q = _filtered(q, agency, reason, kind, search, escalation)
    q = q.order_by(handoffs.c.answer_due_at, handoffs.c.followup_since, handoffs.c.id).limit(limit).offset(offset)
    return [
        QueueItem(
            handoff=r.id,
            case=r.case_id,
            reference=r.reference,
            agency=r.agency_id,
            kind=r.case_kind,
            state=r.state,
            overdue=r.overdue,
            escalation_level=r.escalation_level,
            reason=FollowupReason(r.followup_reason),
            note=r.followup or "",
            since=r.followup_since,
            answer_due_at=r.answer_due_at,
            subject=r.payload["subject"],
        )
        for r in conn.execute(q)
    ]


def counts(conn: Connection, agency: str | None = None) -> dict[FollowupReason, int]:
    """How many handoffs wait for each reason."""
    q = select(handoffs.c.followup_reason, func.count()).where(handoffs.c.followup_reason.is_not(None))
    if agency:
        q = q.where(handoffs.c.agency_id == agency)
    found = {FollowupReason(r): int(n) for r, n in conn.execute(q.group_by(handoffs.c.followup_reason))}
    return {r: found.get(r, 0) for r in FollowupReason}


@dataclass(frozen=True)
class HandoffDetail:
    """Everything the central office needs to chase one handoff."""

    handoff: Handoff
    case: dict[str, Any]
    messages: list[dict[str, Any]]
    follow_ons: list[dict[str, Any]]
    events: list[Event]


def detail(conn: Connection, handoff_id: str) -> HandoffDetail:
    """One handoff with its case, the agency's messages, the follow-on messages and the case's events."""
    h = load(conn, handoff_id)
    case = dict(conn.execute(select(cases).where(cases.c.id == h.case_id)).one()._mapping)
    msgs = [
        dict(m._mapping)
        for m in conn.execute(
            select(agency_messages)
            .where(agency_messages.c.handoff_id == handoff_id)
            .order_by(agency_messages.c.created_at, agency_messages.c.id)
        )
    ]
    sent = [
        dict(f._mapping)
        for f in conn.execute(
            select(follow_ons).where(follow_ons.c.handoff_id == handoff_id).order_by(follow_ons.c.created_at)
        )
    ]
    return HandoffDetail(h, case, msgs, sent, events.for_case(conn, h.case_id))
