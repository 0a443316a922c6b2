"""Deadlines on handoffs: set at creation, paused while the citizen is asked, extended on request.

Each handoff stores its clocks (acknowledge by, answer by, warn at) and one indexed column,
`next_check_at`: the next instant the sweep (broker.sweep) has anything to do for it (warn, flag
overdue, escalate one level), or NULL when nothing can happen (answered, transferred, cancelled,
paused). Every change to a handoff's clocks bumps `deadline_version`, which the sweep's claims
check, so a sweep that read a row before a pause or an extension writes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from broker import events, follow_ons, followup
from broker.config import Directory
from broker.errors import InvalidTransition, NotFound, Unprocessable
from broker.lifecycle import CLOCKS_STOPPED, OPEN
from broker.sla import SlaPolicy
from broker.store.cases import CaseGlance, find_case_id
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff, load
from broker.store.tables import handoffs
from schemas import CitizenInfo, FollowOnKind, FollowupReason, MessageKind
from schemas.sla import WorkingDuration

# --- at creation ---------------------------------------------------------------------------------


def initial(policy: SlaPolicy, kind: str, category: str, agency_id: str, at: datetime) -> dict[str, Any]:
    """The deadline columns of a handoff created at `at` (its clocks start when the hub takes it)."""
    cal = policy.calendar
    rules = policy.deadlines(kind, category, agency_id)
    allowed = cal.length(rules.answer)
    warn_at = cal.add_working(at, allowed * policy.config.warn_at)
    return {
        "ack_due_at": cal.add_working(at, rules.acknowledge),
        "answer_due_at": cal.add_working(at, allowed),
        "answer_allowed": allowed.total_seconds(),
        "warn_at": warn_at,
        "next_check_at": warn_at,
        "warned": False,
        "escalation_level": 0,
        "deadline_version": 0,
    }


def announce(policy: SlaPolicy, ack_due_at: datetime, answer_due_at: datetime, answer_allowed: float) -> dict[str, Any]:
    """What the national system is told about a handoff's deadlines, so the citizen can be told."""
    cal = policy.calendar
    days = round(cal.in_days(timedelta(seconds=answer_allowed)), 2)
    return {
        "acknowledge_by": cal.local(ack_due_at).isoformat(),
        "answer_by": cal.local(answer_due_at).isoformat(),
        "answer_by_day": cal.due_day(answer_due_at).isoformat(),
        "answer_within": str(WorkingDuration(amount=days, unit="days")),
    }


def announce_handoff(policy: SlaPolicy, h: Handoff) -> dict[str, Any]:
    """`announce` for a stored handoff."""
    assert h.ack_due_at is not None and h.answer_due_at is not None and h.answer_allowed is not None
    return announce(policy, h.ack_due_at, h.answer_due_at, h.answer_allowed)


# --- agency messages -----------------------------------------------------------------------------


def on_message(
    conn: Connection,
    policy: SlaPolicy,
    h: Handoff,
    kind: MessageKind,
    state: str,
    actor: str,
    *,
    case: CaseGlance | None,
) -> dict[str, Any]:
    """Clock changes for a message on handoff `h` (read under its lock, now in `state`); returns columns to write.

    Any message counts as the acknowledgement; an answer stops the clock and starts the central
    office's review clock (`case`: an answer's case, its kind and category); `needs_info` pauses
    the clock, keeping the working time left.
    """
    at = now()
    cal = policy.calendar
    values: dict[str, Any] = {}
    if h.acknowledged_at is None:
        values["acknowledged_at"] = at
    if kind is MessageKind.answered and h.answered_at is None:
        assert case is not None
        review = policy.deadlines(case.kind, case.category, h.agency_id).review
        values.update(answered_at=at, review_due_at=cal.add_working(at, review))
    # `h` was read under its row lock: its version + 1 is exact, and the UPDATE keeps its cached shape
    if state in CLOCKS_STOPPED:
        values.update(next_check_at=None, paused_at=None, deadline_version=h.deadline_version + 1)
    elif kind is MessageKind.needs_info and h.paused_at is None and h.answer_due_at is not None:
        left = max(cal.working_between(at, h.answer_due_at), timedelta(0))
        values.update(
            paused_at=at,
            remaining=left.total_seconds(),
            next_check_at=None,
            deadline_version=h.deadline_version + 1,
        )
        events.append(
            conn,
            type="handoff.paused",
            case_id=h.case_id,
            handoff_id=h.id,
            actor=actor,
            agency=h.agency_id,
            remaining_days=round(cal.in_days(left), 2),
        )
    return values


def on_return(policy: SlaPolicy, h: Handoff, state: str) -> dict[str, Any]:
    """Clock changes for an answer sent back by the central office (the handoff now in `state`).

    The agency's answer clock runs again; the time the answer spent in review is not the agency's,
    so the answer-by time moves on by it.
    """
    values: dict[str, Any] = {"answered_at": None, "review_due_at": None}
    if h.answered_at is not None and h.answer_due_at is not None:
        in_review = policy.calendar.working_between(h.answered_at, now())
        values["answer_due_at"] = policy.calendar.add_working(h.answer_due_at, in_review)
    values["next_check_at"] = next_check(policy, replace(h, **values, state=state))
    values["deadline_version"] = h.deadline_version + 1
    return values


# --- the citizen answers -------------------------------------------------------------------------


def resume_case(
    conn: Connection, directory: Directory, case_id: str, info: CitizenInfo, actor: str
) -> list[dict[str, Any]]:
    """Restart every paused handoff of a case with the working time it had left; returns their news.

    Each agency that asked gets the citizen's reply as a follow-on message, and its handoff a new
    round (so the same status reached again is news again).
    """
    policy = directory.sla
    at = now()
    q = select(handoffs).where(handoffs.c.case_id == case_id, handoffs.c.paused_at.is_not(None))
    resumed = []
    for row in conn.execute(q.with_for_update()).all():
        h = Handoff.from_row(row)
        left = timedelta(seconds=h.remaining or 0.0)
        due = policy.calendar.add_working(at, left)
        warn_at = h.warn_at if h.warned else _warn_point(policy, at, left, h.answer_allowed or 0.0)
        values: dict[str, Any] = {"paused_at": None, "remaining": None, "answer_due_at": due, "warn_at": warn_at}
        values["next_check_at"] = next_check(policy, replace(h, **values))
        values["round"] = h.round + 1
        _write(conn, h, values)
        news = {"handoff": h.id, "agency": h.agency_id, **announce_handoff(policy, replace(h, answer_due_at=due))}
        events.append(conn, type="handoff.resumed", case_id=case_id, handoff_id=h.id, actor=actor, **news)
        follow_ons.create(
            conn,
            directory,
            replace(h, **values),
            FollowOnKind.citizen_reply,
            text=info.text,
            attachments=info.attachments,
            text_ar="ردّ المواطن على طلب المعلومات",
            text_en="The citizen answered your request for information",
            actor=actor,
        )
        resumed.append(news)
    return resumed


def record_citizen_info(
    engine: Engine, directory: Directory, case: str, info: CitizenInfo, actor: str
) -> tuple[str, list[dict[str, Any]]]:
    """Record what the citizen sent and resume the case's paused handoffs; returns the case id and them.

    Information that nobody asked for is recorded all the same (and resumes nothing).
    """
    with transaction(engine) as conn:
        case_id = find_case_id(conn, case)
        events.append(
            conn,
            type="case.citizen_info",
            case_id=case_id,
            actor=actor,
            text=info.text,
            attachments=[a.model_dump(mode="json") for a in info.attachments],
            sent_at=info.sent_at.isoformat() if info.sent_at else None,
        )
        return case_id, resume_case(conn, directory, case_id, info, actor)


def _warn_point(policy: SlaPolicy, at: datetime, left: timedelta, allowed: float) -> datetime:
    """When to warn, given `left` working time from `at`: once the configured share is used."""
    unused_at_warning = timedelta(seconds=allowed * (1 - policy.config.warn_at))
    return policy.calendar.add_working(at, max(left - unused_at_warning, timedelta(0)))


# --- extensions ----------------------------------------------------------------------------------


def request_extension(engine: Engine, handoff_id: str, days: int, reason: str, actor: str) -> None:
    """Record an agency's request for `days` more working days; the central office decides."""
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        if h.state not in OPEN:
            raise InvalidTransition("handoff", h.state, "request an extension")
        if h.extension_request is not None:
            raise Unprocessable("an extension request is already waiting for a decision", field="handoff")
        request = {"days": days, "reason": reason, "by": actor, "at": now().isoformat()}
        _write(conn, h, {"extension_request": request})
        events.append(
            conn,
            type="handoff.extension_requested",
            case_id=h.case_id,
            handoff_id=handoff_id,
            actor=actor,
            agency=h.agency_id,
            days=days,
            reason=reason,
        )


def decide_extension(
    engine: Engine, policy: SlaPolicy, handoff_id: str, *, grant: bool, actor: str, note: str = ""
) -> dict[str, Any]:
    """Grant (moving the answer-by time) or refuse the waiting request; returns the event's data."""
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        request = h.extension_request
        if request is None:
            raise NotFound(f"no extension request waiting on handoff '{handoff_id}'")
        values: dict[str, Any] = {"extension_request": None}
        data: dict[str, Any] = {"agency": h.agency_id, "days": request["days"], "note": note}
        if grant:
            values.update(_extend(conn, policy, h, policy.calendar.day_length * request["days"]))
            data.update(announce_handoff(policy, replace(h, answer_due_at=values["answer_due_at"])))
        _write(conn, h, values)
        kind = "granted" if grant else "refused"
        events.append(
            conn, type=f"handoff.extension_{kind}", case_id=h.case_id, handoff_id=handoff_id, actor=actor, **data
        )
    return data


def _extend(conn: Connection, policy: SlaPolicy, h: Handoff, more: timedelta) -> dict[str, Any]:
    cal = policy.calendar
    values: dict[str, Any] = {"answer_allowed": (h.answer_allowed or 0.0) + more.total_seconds()}
    assert h.answer_due_at is not None
    if h.paused_at is not None:
        values["remaining"] = (h.remaining or 0.0) + more.total_seconds()
        values["answer_due_at"] = cal.add_working(h.answer_due_at, more)
        return values
    values["answer_due_at"] = due = cal.add_working(h.answer_due_at, more)
    if not h.warned and h.warn_at is not None:
        values["warn_at"] = cal.add_working(h.warn_at, more)
    if h.overdue and due > now():
        values.update(overdue=False, escalation_level=0)
        values.update(followup.cleared(conn, h, FollowupReason.overdue, FollowupReason.escalated))
    values["next_check_at"] = next_check(policy, replace(h, **values))
    return values


def next_check(policy: SlaPolicy, h: Handoff) -> datetime | None:
    """When the sweep next has something to do for a handoff with these columns."""
    if h.paused_at is not None or h.answer_due_at is None or h.state not in OPEN:
        return None
    if not h.warned and h.warn_at is not None:
        return h.warn_at
    if not h.overdue:
        return h.answer_due_at
    level = h.escalation_level
    if level < len(policy.escalation):
        return policy.calendar.add_working(h.answer_due_at, policy.escalation[level].after)
    return None


def _write(conn: Connection, h: Handoff, values: dict[str, Any]) -> None:
    """Write clock columns of a row this transaction holds, bumping its version."""
    conn.execute(
        update(handoffs)
        .where(handoffs.c.id == h.id)
        .values(**values, deadline_version=handoffs.c.deadline_version + 1, updated_at=now())
    )
