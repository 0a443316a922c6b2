"""The deadline sweep: warn, flag overdue and escalate the handoffs whose next check has come.

It reads only rows whose `next_check_at` has passed, through the partial index on that column, so
its cost follows what is due, not what is open. Each row is claimed with a conditional UPDATE on
the `deadline_version` it read (and, on PostgreSQL, read with FOR UPDATE SKIP LOCKED), so two
schedulers, or a sweep that overlaps the next, warn and escalate each handoff once.

The agency hears of it through a follow-on message written in the same transaction: the sweep
itself never calls an agency, so a slow one cannot hold up the scheduler (and its relay).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Select, select, update

from broker import events, follow_ons, followup
from broker.config import Directory
from broker.deadlines import next_check
from broker.hub import Hub
from broker.lifecycle import OPEN
from broker.sla import SlaPolicy
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff
from broker.store.tables import cases, handoffs
from schemas import FollowOnKind, FollowupReason, ReminderDetail, ReminderKind

log = structlog.get_logger(__name__)

SWEEP_EVERY = 60.0
"""Seconds between sweeps: deadlines are counted in working hours and days, a minute is plenty."""

SWEEP_BATCH = 500
"""Due handoffs claimed per transaction."""

_MAX_ROUNDS = 1000
"""A bound on batches per sweep, so one sweep always ends (what is left waits for the next)."""


@dataclass
class SweepResult:
    """What one sweep did."""

    warned: int = 0
    overdue: int = 0
    escalated: int = 0
    stopped: int = 0
    lost: int = 0
    """Rows another sweep claimed first."""


def due_query(at: datetime, limit: int) -> Select[Any]:
    """The rows the sweep must look at: `next_check_at` has passed (read through its index)."""
    return (
        select(handoffs, cases.c.reference)
        .join(cases, cases.c.id == handoffs.c.case_id)
        .where(handoffs.c.next_check_at <= at)
        .order_by(handoffs.c.next_check_at)
        .limit(limit)
    )


_COUNTS = {ReminderKind.warning: "warned", ReminderKind.overdue: "overdue", ReminderKind.escalated: "escalated"}


def sweep(hub: Hub, at: datetime | None = None, batch: int = SWEEP_BATCH) -> SweepResult:
    """Warn, flag overdue and escalate every handoff whose next check has come; each step once."""
    at = at or now()
    result = SweepResult()
    q = due_query(at, batch)
    if not hub.settings.is_sqlite:
        q = q.with_for_update(skip_locked=True, of=handoffs)
    for _ in range(_MAX_ROUNDS):
        with transaction(hub.engine) as conn:
            rows = conn.execute(q).all()
            for row in rows:
                _check(conn, hub.directory, Handoff.from_row(row), row.reference, at, result)
        if len(rows) < batch:
            break
    if result != SweepResult():
        log.info("deadlines.swept", **result.__dict__)
    return result


def _check(
    conn: Connection, directory: Directory, h: Handoff, reference: str, at: datetime, result: SweepResult
) -> None:
    """Take every step now due for one handoff, in one claimed write, and queue the agency's reminder."""
    policy = directory.sla
    if h.state not in OPEN:
        if _claim(conn, h, {"next_check_at": None}):
            result.stopped += 1
        else:
            result.lost += 1
        return
    after = h
    steps: list[tuple[ReminderKind, dict[str, Any]]] = []
    while (due := next_check(policy, after)) is not None and due <= at:
        after, step = _step(policy, after, at)
        steps.append(step)
    values: dict[str, Any] = {
        "warned": after.warned,
        "overdue": after.overdue,
        "escalation_level": after.escalation_level,
        "next_check_at": next_check(policy, after),
    }
    if after.overdue:
        reason = FollowupReason.escalated if after.escalation_level else FollowupReason.overdue
        values.update(followup.flag(h, reason, after.followup or ""))
    if not _claim(conn, h, values):
        result.lost += 1
        return
    for kind, data in steps:
        events.append(conn, type=f"handoff.{_COUNTS[kind]}", case_id=h.case_id, handoff_id=h.id, actor="hub", **data)
        setattr(result, _COUNTS[kind], getattr(result, _COUNTS[kind]) + 1)
    if steps:
        reminded = replace(
            after,
            followup_reason=values.get("followup_reason", h.followup_reason),
            followup_since=values.get("followup_since", h.followup_since),
        )
        _remind(conn, directory, reminded, reference, steps[-1][0])


def _step(policy: SlaPolicy, h: Handoff, at: datetime) -> tuple[Handoff, tuple[ReminderKind, dict[str, Any]]]:
    """The next step for `h`: warn, then flag overdue, then one escalation level; `followup` carries the note."""
    assert h.answer_due_at is not None
    answer_by = policy.calendar.local(h.answer_due_at).isoformat()
    data: dict[str, Any] = {"agency": h.agency_id, "answer_by": answer_by}
    if not h.warned:
        return replace(h, warned=True), (ReminderKind.warning, data)
    if not h.overdue:
        note = f"overdue: the answer was due {answer_by}"
        return replace(h, overdue=True, followup=note), (ReminderKind.overdue, data)
    level = policy.escalation[h.escalation_level]
    note = f"overdue since {answer_by}; escalated to {level.name_en} / {level.name_ar}"
    after = replace(h, escalation_level=h.escalation_level + 1, followup=note)
    return after, (ReminderKind.escalated, {**data, "level": after.escalation_level, "level_id": level.id})


def _remind(conn: Connection, directory: Directory, h: Handoff, reference: str, kind: ReminderKind) -> None:
    """Queue the agency's reminder as a follow-on message (sent by a worker, or passed on by an officer)."""
    policy = directory.sla
    assert h.answer_due_at is not None
    day = policy.calendar.due_day(h.answer_due_at).isoformat()
    texts = {
        ReminderKind.warning: (
            f"تذكير: يحين موعد الرد على الحالة {reference} في {day}.",
            f"Reminder: the answer to case {reference} is due on {day}.",
        ),
        ReminderKind.overdue: (
            f"تنبيه: انقضى موعد الرد على الحالة {reference} في {day}.",
            f"Overdue: the answer to case {reference} was due on {day}.",
        ),
    }
    level = h.escalation_level
    if kind is ReminderKind.escalated:
        lvl = policy.escalation[level - 1]
        text_ar, text_en = texts[ReminderKind.overdue]
        texts[kind] = (f"{text_ar} أُحيلت المتابعة إلى {lvl.name_ar}.", f"{text_en} Escalated to {lvl.name_en}.")
    text_ar, text_en = texts[kind]
    detail = ReminderDetail(
        kind=kind,
        answer_due_at=h.answer_due_at,
        level=level,
        level_id=policy.escalation[level - 1].id if level else None,
    )
    follow_ons.create(
        conn, directory, h, FollowOnKind.reminder, text_ar=text_ar, text_en=text_en, reminder=detail, actor="hub"
    )


def _claim(conn: Connection, h: Handoff, values: dict[str, Any]) -> bool:
    """Write only if nobody changed the row's clocks since we read it; False if someone did."""
    done = conn.execute(
        update(handoffs)
        .where(handoffs.c.id == h.id, handoffs.c.deadline_version == h.deadline_version)
        .values(**values, deadline_version=h.deadline_version + 1, updated_at=now())
    )
    return done.rowcount == 1
