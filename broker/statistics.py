"""The central office's statistics: cases by kind and by agency over time, growth, on-time and satisfaction.

Periods are local (Asia/Bahrain) days, weeks (starting on Sunday, Bahrain's first working day),
months or quarters. Counting is done in Python over the rows of the window asked for, which stays
cheap for the windows a person reads (a year of cases is a few hundred thousand short rows).
"""

from __future__ import annotations

import statistics as stats
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select

from broker import followup, reports
from broker.hub import Hub
from broker.sla import SlaPolicy
from broker.store.engine import now
from broker.store.tables import cases, handoffs, queue_samples, surveys

ZONE = ZoneInfo("Asia/Bahrain")
KINDS = ("complaint", "suggestion", "inquiry")
SAMPLE_EVERY = 900.0  # seconds between samples of the follow-up queue's size


class Period(StrEnum):
    """How statistics are grouped in time."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"


def period_start(day: date, period: Period) -> date:
    """The first day of the period `day` falls in (weeks start on Sunday)."""
    if period is Period.day:
        return day
    if period is Period.week:
        return day - timedelta(days=(day.weekday() + 1) % 7)
    if period is Period.month:
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def _step(start: date, period: Period, back: int) -> date:
    """The start of the period `back` periods before the one starting on `start`."""
    if period is Period.day:
        return start - timedelta(days=back)
    if period is Period.week:
        return start - timedelta(weeks=back)
    months = 1 if period is Period.month else 3
    index = start.year * 12 + start.month - 1 - back * months
    return date(index // 12, index % 12 + 1, 1)


def periods(at: datetime, period: Period, count: int) -> list[date]:
    """The starts of the last `count` periods up to the one holding `at`, oldest first."""
    current = period_start(at.astimezone(ZONE).date(), period)
    return [_step(current, period, back) for back in range(count - 1, -1, -1)]


def label(start: date, period: Period) -> str:
    """A period as people write it: 2026-11, 2026-Q4, or the first day."""
    if period is Period.month:
        return f"{start:%Y-%m}"
    if period is Period.quarter:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return start.isoformat()


def _since(first: date) -> datetime:
    return datetime.combine(first, time(), ZONE)


def _bucket(at: datetime, period: Period) -> date:
    return period_start(at.astimezone(ZONE).date(), period)


@dataclass(frozen=True)
class Series:
    """Counts per period for each of several names (kinds, agencies): `values[name][i]` is for `starts[i]`."""

    period: Period
    starts: list[date]
    values: dict[str, list[int]]

    @property
    def labels(self) -> list[str]:
        """Each period's label."""
        return [label(s, self.period) for s in self.starts]

    def totals(self) -> list[int]:
        """All names together, per period."""
        return [sum(v[i] for v in self.values.values()) for i in range(len(self.starts))]


def cases_by_kind(conn: Connection, period: Period, count: int, at: datetime | None = None) -> Series:
    """Cases received per period, by kind."""
    starts = periods(at or now(), period, count)
    rows = conn.execute(select(cases.c.created_at, cases.c.kind).where(cases.c.created_at >= _since(starts[0])))
    counted = Counter((_bucket(r.created_at, period), r.kind) for r in rows)
    return Series(period, starts, {k: [counted[(s, k)] for s in starts] for k in KINDS})


def cases_by_agency(conn: Connection, period: Period, count: int, at: datetime | None = None) -> Series:
    """Cases per period for each agency that was given them (a case given to two counts for both)."""
    starts = periods(at or now(), period, count)
    rows = conn.execute(
        select(cases.c.id, cases.c.created_at, handoffs.c.agency_id)
        .join(handoffs, handoffs.c.case_id == cases.c.id)
        .where(cases.c.created_at >= _since(starts[0]))
        .distinct()
    )
    counted = Counter((_bucket(r.created_at, period), r.agency_id) for r in rows)
    agencies = sorted({agency for _, agency in counted})
    return Series(period, starts, {a: [counted[(s, a)] for s in starts] for a in agencies})


def growth(totals: list[int]) -> list[float | None]:
    """Per period, the change on the period before in per cent (None when the one before had none)."""
    return [None] + [round((now_ - before) / before * 100, 1) if before else None for before, now_ in pairwise(totals)]


@dataclass(frozen=True)
class AgencyQuality:
    """One agency's on-time share of answers (0-1) and its citizens' mean satisfaction (1-5)."""

    agency: str
    handoffs: int
    answered_on_time: float | None
    surveys: int
    satisfaction: float | None


def agency_quality(conn: Connection, policy: SlaPolicy, at: datetime | None = None) -> list[AgencyQuality]:
    """Every agency with handoffs or surveys: the SLA report's on-time share and the surveys' mean score."""
    at = at or now()
    sla = {line.agency: line for line in reports.sla_report(conn, policy, None, None, at)}
    scores: dict[str, list[int]] = defaultdict(list)
    for row in conn.execute(select(surveys.c.score, surveys.c.agencies)):
        for agency in row.agencies:
            scores[agency].append(row.score)
    return [
        AgencyQuality(
            agency=agency,
            handoffs=sla[agency].handoffs if agency in sla else 0,
            answered_on_time=sla[agency].answered_on_time if agency in sla else None,
            surveys=len(scores.get(agency, [])),
            satisfaction=round(stats.fmean(scores[agency]), 2) if scores.get(agency) else None,
        )
        for agency in sorted(set(sla) | set(scores))
    ]


def sample_queue(hub: Hub) -> int:
    """Record the follow-up queue's size by reason now (the scheduler does it every SAMPLE_EVERY seconds)."""
    with hub.engine.begin() as conn:
        counts = followup.counts(conn)
        at = now()
        rows = [{"reason": r.value, "count": n, "created_at": at} for r, n in counts.items() if n]
        rows.append({"reason": "total", "count": sum(counts.values()), "created_at": at})
        conn.execute(insert(queue_samples), rows)
    return len(rows)


def queue_size(conn: Connection, since: datetime) -> list[tuple[datetime, int]]:
    """The follow-up queue's total size at each sample since `since`, then now."""
    rows = conn.execute(
        select(queue_samples.c.created_at, queue_samples.c.count)
        .where(queue_samples.c.reason == "total", queue_samples.c.created_at >= since)
        .order_by(queue_samples.c.created_at)
    ).all()
    current = sum(followup.counts(conn).values())
    return [(r[0], int(r[1])) for r in rows] + [(now(), current)]
