"""Statistics for the central office: how each agency keeps its deadlines."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select

from broker.lifecycle import NOT_ANSWERABLE, OPEN
from broker.sla import SlaPolicy
from broker.store.tables import handoffs


@dataclass(frozen=True)
class AgencySla:
    """One agency's line of the SLA report; shares are 0 to 1, None when nothing was due yet."""

    agency: str
    handoffs: int
    acknowledged_on_time: float | None
    answered_on_time: float | None
    median_days_to_answer: float | None
    p90_days_to_answer: float | None
    overdue_now: int


def sla_report(
    conn: Connection, policy: SlaPolicy, start: date | None, end: date | None, at: datetime
) -> list[AgencySla]:
    """Per agency, for handoffs created from `start` to `end` (local dates, both included).

    A handoff counts for "acknowledged on time" once it was acknowledged or its acknowledge-by time
    passed, and for "answered on time" once answered or past its answer-by time (a transferred or
    cancelled one never does). Days to answer are working days, with time paused for the citizen
    left out. "Overdue now" counts handoffs of the period still open and overdue at `at`.
    """
    cal = policy.calendar
    q = select(
        handoffs.c.agency_id,
        handoffs.c.state,
        handoffs.c.overdue,
        handoffs.c.ack_due_at,
        handoffs.c.acknowledged_at,
        handoffs.c.answer_due_at,
        handoffs.c.answered_at,
        handoffs.c.answer_allowed,
        handoffs.c.paused_at,
    ).where(handoffs.c.answer_due_at.is_not(None))
    if start is not None:
        q = q.where(handoffs.c.created_at >= datetime.combine(start, time(), cal.zone))
    if end is not None:
        q = q.where(handoffs.c.created_at < datetime.combine(end + timedelta(days=1), time(), cal.zone))
    by_agency: dict[str, list[Any]] = {}
    for row in conn.execute(q):
        by_agency.setdefault(row.agency_id, []).append(row)
    return [_line(policy, agency, rows, at) for agency, rows in sorted(by_agency.items())]


def _line(policy: SlaPolicy, agency: str, rows: list[Any], at: datetime) -> AgencySla:
    cal = policy.calendar
    acked = [_kept(r.acknowledged_at, r.ack_due_at) for r in rows if r.acknowledged_at or r.ack_due_at <= at]
    answerable = [r for r in rows if r.state not in NOT_ANSWERABLE]
    answered = [
        _kept(r.answered_at, r.answer_due_at)
        for r in answerable
        if r.answered_at or (r.paused_at is None and r.answer_due_at <= at)
    ]
    days = sorted(
        cal.in_days(timedelta(seconds=r.answer_allowed) - cal.working_between(r.answered_at, r.answer_due_at))
        for r in answerable
        if r.answered_at is not None
    )
    return AgencySla(
        agency=agency,
        handoffs=len(rows),
        acknowledged_on_time=_share(acked),
        answered_on_time=_share(answered),
        median_days_to_answer=round(statistics.median(days), 2) if days else None,
        p90_days_to_answer=round(_percentile(days, 0.9), 2) if days else None,
        overdue_now=sum(1 for r in rows if r.overdue and r.state in OPEN),
    )


def _kept(done: datetime | None, due: datetime) -> bool:
    return done is not None and done <= due


def _share(outcomes: list[bool]) -> float | None:
    return round(sum(outcomes) / len(outcomes), 4) if outcomes else None


def _percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what spreadsheets call PERCENTILE.INC)."""
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
