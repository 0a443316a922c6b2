"""The central office's review of agencies' answers before they reach the citizen.

An answer is accepted (the case is replied once every agency's part is settled) or returned to
its agency with a reason; a replied case is then closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from broker import deadlines, events
from broker.errors import InvalidTransition, NotFound
from broker.lifecycle import next_handoff_state
from broker.sla import SlaPolicy
from broker.store.cases import find_case_id, move_case
from broker.store.engine import transaction
from broker.store.handoffs import update_handoff
from broker.store.tables import agency_messages, cases, handoffs
from schemas import CaseState, HandoffState

_SETTLED = {HandoffState.accepted, HandoffState.transferred, HandoffState.cancelled, HandoffState.failed}


@dataclass(frozen=True)
class AnswerToReview:
    """An agency's answer waiting for the central office."""

    handoff: str
    reference: str
    agency: str
    answer: str
    answered_at: datetime


def awaiting(conn: Connection, limit: int = 200) -> list[AnswerToReview]:
    """Answered handoffs, oldest first, each with the agency's latest answer."""
    latest = (
        select(agency_messages.c.text)
        .where(agency_messages.c.handoff_id == handoffs.c.id, agency_messages.c.kind == "answered")
        .order_by(agency_messages.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(handoffs.c.id, handoffs.c.agency_id, handoffs.c.updated_at, cases.c.reference, latest.label("answer"))
        .join(cases, cases.c.id == handoffs.c.case_id)
        .where(handoffs.c.state == HandoffState.answered.value)
        .order_by(handoffs.c.updated_at)
        .limit(limit)
    ).all()
    return [AnswerToReview(r.id, r.reference, r.agency_id, r.answer or "", r.updated_at) for r in rows]


def accept(engine: Engine, handoff_id: str, actor: str) -> str:
    """Accept an answer; when every agency's part is settled the case is replied. Returns the case state."""
    with transaction(engine) as conn:
        h = _handoff(conn, handoff_id)
        update_handoff(conn, handoff_id, {"state": next_handoff_state(h.state, "accept").value})
        events.append(conn, type="handoff.accepted", case_id=h.case_id, handoff_id=handoff_id, actor=actor)
        others = conn.execute(select(handoffs.c.state).where(handoffs.c.case_id == h.case_id)).scalars().all()
        state = conn.execute(select(cases.c.state).where(cases.c.id == h.case_id)).scalar_one()
        if all(s in _SETTLED for s in others) and state == CaseState.answered:
            move_case(conn, h.case_id, "review")
            state = move_case(conn, h.case_id, "accept")
            events.append(conn, type="case.replied", case_id=h.case_id, actor=actor)
        return str(state)


def send_back(engine: Engine, policy: SlaPolicy, handoff_id: str, reason: str, actor: str) -> None:
    """Return an answer to its agency with the reason; its answer clock runs again."""
    if not reason.strip():
        raise InvalidTransition("answer", "answered", "be returned without a reason")
    with transaction(engine) as conn:
        h = _handoff(conn, handoff_id)
        update_handoff(conn, handoff_id, {"state": next_handoff_state(h.state, "return").value})
        deadlines.on_return(conn, policy, handoff_id)
        state = conn.execute(select(cases.c.state).where(cases.c.id == h.case_id)).scalar_one()
        if state == CaseState.answered:
            move_case(conn, h.case_id, "review")
            move_case(conn, h.case_id, "return")
        events.append(
            conn, type="handoff.returned", case_id=h.case_id, handoff_id=handoff_id, actor=actor, reason=reason
        )


def close(engine: Engine, case: str, actor: str) -> None:
    """Close a replied case (by id or national reference): the citizen has the answer."""
    with transaction(engine) as conn:
        case_id = find_case_id(conn, case)
        move_case(conn, case_id, "close")
        events.append(conn, type="case.closed", case_id=case_id, actor=actor)


def _handoff(conn: Connection, handoff_id: str) -> Any:
    row = conn.execute(select(handoffs.c.state, handoffs.c.case_id).where(handoffs.c.id == handoff_id)).first()
    if row is None:
        raise NotFound(f"no handoff '{handoff_id}'")
    return row
