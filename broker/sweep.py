"""The deadline sweep: warn, flag overdue and escalate the handoffs whose next check has come.

It reads only rows whose `next_check_at` has passed, through the partial index on that column, so
its cost follows what is due, not what is open. Each row is claimed with a conditional UPDATE on
the `deadline_version` it read (and, on PostgreSQL, read with FOR UPDATE SKIP LOCKED), so two
schedulers, or a sweep that overlaps the next, warn and escalate each handoff once.

The scheduler process is the beat: it runs `sweep` every SWEEP_EVERY seconds as a periodic job
(registered below; broker.runner imports this module) instead of publishing a Celery task: the
sweep is one indexed query and a few writes, and the scheduler already tolerates a twin.
Reminders go to the agency's adapter after the commit; a failed one is logged, while the event
and the follow-up queue keep the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Select, select, update

from broker import events
from broker.deadlines import OPEN, next_check
from broker.hub import Hub
from broker.scheduler import PERIODIC, Periodic
from broker.sla import SlaPolicy
from broker.store.engine import now, transaction
from broker.store.tables import cases, handoffs
from schemas.sla import Reminder, ReminderKind

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
    policy = hub.directory.sla
    result = SweepResult()
    q = due_query(at, batch)
    if not hub.settings.is_sqlite:
        q = q.with_for_update(skip_locked=True, of=handoffs)
    for _ in range(_MAX_ROUNDS):
        reminders: list[tuple[str, Reminder]] = []
        with transaction(hub.engine) as conn:
            rows = conn.execute(q).all()
            for row in rows:
                reminder = _check(conn, policy, dict(row._mapping), at, result)
                if reminder is not None:
                    reminders.append((row.agency_id, reminder))
        for agency_id, reminder in reminders:
            _remind(hub, agency_id, reminder)
        if len(rows) < batch:
            break
    if result != SweepResult():
        log.info("deadlines.swept", **result.__dict__)
    return result


def _check(
    conn: Connection, policy: SlaPolicy, h: dict[str, Any], at: datetime, result: SweepResult
) -> Reminder | None:
    """Take every step now due for one handoff, in one claimed write; the reminder to send, if any."""
    if h["state"] not in OPEN:
        if _claim(conn, h, {"next_check_at": None}):
            result.stopped += 1
        else:
            result.lost += 1
        return None
    state = {k: h[k] for k in ("warned", "overdue", "escalation_level", "followup", "followup_since")}
    steps: list[tuple[ReminderKind, dict[str, Any]]] = []
    while (due := next_check(policy, {**h, **state})) is not None and due <= at:
        steps.append(_step(policy, h, state, at))
    state["next_check_at"] = next_check(policy, {**h, **state})
    if not _claim(conn, h, state):
        result.lost += 1
        return None
    for kind, data in steps:
        events.append(
            conn, type=f"handoff.{_COUNTS[kind]}", case_id=h["case_id"], handoff_id=h["id"], actor="hub", **data
        )
        setattr(result, _COUNTS[kind], getattr(result, _COUNTS[kind]) + 1)
    return _reminder(policy, h, state, steps[-1][0]) if steps else None


def _step(
    policy: SlaPolicy, h: dict[str, Any], state: dict[str, Any], at: datetime
) -> tuple[ReminderKind, dict[str, Any]]:
    """Apply the next step to `state`: warn, then flag overdue, then one escalation level."""
    cal = policy.calendar
    answer_by = cal.local(h["answer_due_at"]).isoformat()
    data: dict[str, Any] = {"agency": h["agency_id"], "answer_by": answer_by}
    if not state["warned"]:
        state["warned"] = True
        return ReminderKind.warning, data
    if state["followup_since"] is None:
        state["followup_since"] = at
    if not state["overdue"]:
        state["overdue"] = True
        state["followup"] = f"overdue: the answer was due {answer_by}"
        return ReminderKind.overdue, data
    level = policy.escalation[state["escalation_level"]]
    state["escalation_level"] += 1
    state["followup"] = f"overdue since {answer_by}; escalated to {level.name_en} / {level.name_ar}"
    return ReminderKind.escalated, {**data, "level": state["escalation_level"], "level_id": level.id}


def _reminder(policy: SlaPolicy, h: dict[str, Any], state: dict[str, Any], kind: ReminderKind) -> Reminder:
    cal = policy.calendar
    ref = h["reference"]
    day = cal.due_day(h["answer_due_at"]).isoformat()
    texts = {
        ReminderKind.warning: (
            f"تذكير: يحين موعد الرد على الحالة {ref} في {day}.",
            f"Reminder: the answer to case {ref} is due on {day}.",
        ),
        ReminderKind.overdue: (
            f"تنبيه: انقضى موعد الرد على الحالة {ref} في {day}.",
            f"Overdue: the answer to case {ref} was due on {day}.",
        ),
    }
    level = state["escalation_level"]
    if kind is ReminderKind.escalated:
        lvl = policy.escalation[level - 1]
        text_ar, text_en = texts[ReminderKind.overdue]
        texts[kind] = (f"{text_ar} أُحيلت المتابعة إلى {lvl.name_ar}.", f"{text_en} Escalated to {lvl.name_en}.")
    text_ar, text_en = texts[kind]
    return Reminder(
        handoff_id=h["id"],
        case_reference=ref,
        agency_reference=h["agency_reference"],
        kind=kind,
        answer_due_at=h["answer_due_at"],
        level=level,
        level_id=policy.escalation[level - 1].id if level else None,
        text_ar=text_ar,
        text_en=text_en,
    )


def _remind(hub: Hub, agency_id: str, reminder: Reminder) -> None:
    """Tell the agency through its own adapter, after the commit (the event and queue hold the truth)."""
    try:
        hub.directory.adapter(agency_id).remind(reminder)
    except Exception as exc:  # a reminder that fails is logged; the follow-up queue still shows the handoff
        log.warning("deadline.remind_failed", agency=agency_id, handoff=reminder.handoff_id, error=str(exc))


def _claim(conn: Connection, h: dict[str, Any], values: dict[str, Any]) -> bool:
    """Write only if nobody changed the row's clocks since we read it; False if someone did."""
    done = conn.execute(
        update(handoffs)
        .where(handoffs.c.id == h["id"], handoffs.c.deadline_version == h["deadline_version"])
        .values(**values, deadline_version=h["deadline_version"] + 1, updated_at=now())
    )
    return done.rowcount == 1


PERIODIC.append(Periodic("deadlines.sweep", SWEEP_EVERY, sweep))
