"""The central office's review of agencies' answers before they reach the citizen.

An answer is accepted (the case is replied once every agency's part is settled) or returned to
its agency with a reason (a new round: the agency hears the reason as a follow-on message and its
answer clock runs again); a replied case is then closed and each agency that answered is told.
Every write names the state it expects, so two reviewers acting at once get one result and a
clear conflict, never both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from broker import deadlines, events, follow_ons
from broker.config import Directory
from broker.errors import InvalidTransition
from broker.lifecycle import all_settled, next_handoff_state
from broker.store.cases import find_case_id, move_case
from broker.store.engine import transaction
from broker.store.handoffs import Handoff, load, update_handoff
from broker.store.tables import agency_messages, cases, handoffs
from schemas import CaseState, FollowOnKind, HandoffState


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


def accept(engine: Engine, handoff_id: str, actor: str, reply: str | None = None) -> str:
    """Accept an answer; when every agency's part is settled the case is replied. Returns the case state.

    `reply` is the text for the citizen when the reviewer edited the agency's answer: the
    `handoff.accepted` event carries it, and an `answer.edited` event keeps both versions.
    """
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        conn.execute(select(cases.c.id).where(cases.c.id == h.case_id).with_for_update())
        update_handoff(conn, handoff_id, {"state": next_handoff_state(h.state, "accept").value}, expect=h.state)
        original = _latest_answer(conn, handoff_id)
        edited = reply is not None and reply.strip() != "" and reply != original
        if edited:
            events.append(
                conn,
                type="answer.edited",
                case_id=h.case_id,
                handoff_id=handoff_id,
                actor=actor,
                original=original,
                reply=reply,
            )
        events.append(
            conn,
            type="handoff.accepted",
            case_id=h.case_id,
            handoff_id=handoff_id,
            actor=actor,
            reply=reply if edited else original,
            edited=edited,
        )
        states = conn.execute(select(handoffs.c.state).where(handoffs.c.case_id == h.case_id)).scalars().all()
        state = conn.execute(select(cases.c.state).where(cases.c.id == h.case_id)).scalar_one()
        if all_settled(states) and state == CaseState.answered:
            move_case(conn, h.case_id, "review")
            state = move_case(conn, h.case_id, "accept")
            events.append(conn, type="case.replied", case_id=h.case_id, actor=actor)
        return str(state)


def _latest_answer(conn: Connection, handoff_id: str) -> str:
    text = conn.execute(
        select(agency_messages.c.text)
        .where(agency_messages.c.handoff_id == handoff_id, agency_messages.c.kind == "answered")
        .order_by(agency_messages.c.created_at.desc(), agency_messages.c.id.desc())
        .limit(1)
    ).scalar()
    return str(text or "")


def send_back(engine: Engine, directory: Directory, handoff_id: str, reason: str, actor: str) -> None:
    """Return an answer to its agency with the reason: a new round, with the agency's clock running again."""
    if not reason.strip():
        raise InvalidTransition("answer", "answered", "be returned without a reason")
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        state = next_handoff_state(h.state, "return").value
        values = {"state": state, "round": h.round + 1, **deadlines.on_return(directory.sla, h, state)}
        update_handoff(conn, handoff_id, values, expect=h.state)
        case_state = conn.execute(select(cases.c.state).where(cases.c.id == h.case_id)).scalar_one()
        if case_state == CaseState.answered:
            move_case(conn, h.case_id, "review")
            move_case(conn, h.case_id, "return")
        events.append(
            conn, type="handoff.returned", case_id=h.case_id, handoff_id=handoff_id, actor=actor, reason=reason
        )
        follow_ons.create(
            conn,
            directory,
            replace(h, state=state, round=h.round + 1),
            FollowOnKind.answer_returned,
            text=reason,
            text_ar="أعاد المكتب المركزي إجابتكم لاستكمالها؛ السبب مرفق.",
            text_en="The central office returned your answer; the reason is attached.",
            actor=actor,
        )


def close(engine: Engine, directory: Directory, case: str, actor: str) -> None:
    """Close a replied case (by id or national reference): the citizen has the answer; agencies are told."""
    with transaction(engine) as conn:
        case_id = find_case_id(conn, case)
        move_case(conn, case_id, "close")
        events.append(conn, type="case.closed", case_id=case_id, actor=actor)
        answered = conn.execute(
            select(handoffs).where(handoffs.c.case_id == case_id, handoffs.c.state == HandoffState.accepted.value)
        ).all()
        for row in answered:
            follow_ons.create(
                conn,
                directory,
                Handoff.from_row(row),
                FollowOnKind.case_closed,
                text_ar="أُغلقت الحالة بعد إبلاغ المواطن بالرد. شكرًا لتعاونكم.",
                text_en="The case is closed: the citizen has your answer. Thank you.",
                actor=actor,
            )
