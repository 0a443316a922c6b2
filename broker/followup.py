"""The central office's follow-up queue: manual handoffs, failed deliveries and late ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from broker import events
from broker.errors import NotFound
from broker.store.tables import agency_messages, cases, handoffs
from schemas import Event


@dataclass(frozen=True)
class QueueItem:
    """One line of the follow-up queue."""

    handoff: str
    case: str
    reference: str
    agency: str
    state: str
    overdue: bool
    reason: str
    since: datetime
    subject: str


def queue(conn: Connection, agency: str | None = None, limit: int = 200) -> list[QueueItem]:
    """What waits on the central office, oldest first, optionally for one agency."""
    q = (
        select(handoffs, cases.c.reference, cases.c.payload)
        .join(cases, cases.c.id == handoffs.c.case_id)
        .where(handoffs.c.followup.is_not(None))
        .order_by(handoffs.c.overdue.desc(), handoffs.c.followup_since, handoffs.c.id)
        .limit(limit)
    )
    if agency:
        q = q.where(handoffs.c.agency_id == agency)
    return [
        QueueItem(
            handoff=r.id,
            case=r.case_id,
            reference=r.reference,
            agency=r.agency_id,
            state=r.state,
            overdue=r.overdue,
            reason=r.followup,
            since=r.followup_since,
            subject=r.payload["subject"],
        )
        for r in conn.execute(q)
    ]


@dataclass(frozen=True)
class HandoffDetail:
    """Everything the central office needs to chase one handoff."""

    handoff: dict[str, Any]
    case: dict[str, Any]
    messages: list[dict[str, Any]]
    events: list[Event]


def detail(conn: Connection, handoff_id: str) -> HandoffDetail:
    """One handoff with its case, the agency's messages and the case's events."""
    row = conn.execute(select(handoffs).where(handoffs.c.id == handoff_id)).first()
    if row is None:
        raise NotFound(f"no handoff '{handoff_id}'")
    h = dict(row._mapping)
    case = dict(conn.execute(select(cases).where(cases.c.id == h["case_id"])).one()._mapping)
    msgs = [
        dict(m._mapping)
        for m in conn.execute(
            select(agency_messages)
            .where(agency_messages.c.handoff_id == handoff_id)
            .order_by(agency_messages.c.created_at)
        )
    ]
    return HandoffDetail(h, case, msgs, events.for_case(conn, h["case_id"]))
