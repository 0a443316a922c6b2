"""The recurring-complaints report: groups of two or more cases, with their places, agencies and trend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from broker.store.tables import cases, recurring_cases, recurring_groups, recurring_marks


@dataclass(frozen=True)
class RecurringGroup:
    """One line of the report."""

    group: str
    kind: str
    cases: int
    references: list[str]
    agencies: list[str]
    categories: list[str]
    governorate: str | None
    block: str | None
    road: str | None
    first_report: str
    last_report: str
    trend: list[tuple[str, int]]
    """Cases per ISO week (`2026-W45`), every week from the first report to the last."""
    known: bool
    owner_agency: str | None
    flagged: int


def _week(at: datetime, zone: ZoneInfo) -> str:
    year, week, _ = at.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def _trend(times: list[datetime], zone: ZoneInfo) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for at in times:
        counts[_week(at, zone)] = counts.get(_week(at, zone), 0) + 1
    weeks, at, last = [], min(times), max(times)
    while True:
        weeks.append(_week(at, zone))
        if _week(at, zone) == _week(last, zone):
            break
        at += timedelta(days=7)
    return [(w, counts.get(w, 0)) for w in weeks]


def recurring_report(
    conn: Connection,
    zone: ZoneInfo,
    start: date | None = None,
    end: date | None = None,
    agency: str | None = None,
    least: int = 2,
) -> list[RecurringGroup]:
    """Groups of at least `least` cases reported within [start, end] (local days), largest first.

    With `agency`, only groups with a case that went to that agency.
    """
    query = select(recurring_groups).where(recurring_groups.c.size >= least)
    if start is not None:
        query = query.where(recurring_groups.c.last_at >= datetime.combine(start, time(), zone))
    if end is not None:
        query = query.where(recurring_groups.c.first_at < datetime.combine(end + timedelta(days=1), time(), zone))
    groups = conn.execute(query).all()
    marks = {m.group_id: m for m in conn.execute(select(recurring_marks))}
    members: dict[str, list[tuple[datetime, str, list[str], bool]]] = {}
    if groups:
        rows = conn.execute(
            select(
                recurring_cases.c.group_id,
                recurring_cases.c.at,
                cases.c.reference,
                recurring_cases.c.agencies,
                recurring_cases.c.flagged,
            )
            .join(cases, cases.c.id == recurring_cases.c.case_id)
            .where(recurring_cases.c.group_id.in_([g.id for g in groups]))
            .order_by(recurring_cases.c.at, cases.c.reference)
        )
        for r in rows:
            members.setdefault(r.group_id, []).append((r.at, r.reference, list(r.agencies), r.flagged))
    out = []
    for g in groups:
        mine = members.get(g.id, [])
        agencies = sorted({a for _, _, ags, _ in mine for a in ags})
        if not mine or (agency is not None and agency not in agencies):
            continue
        mark = marks.get(g.id)
        out.append(
            RecurringGroup(
                group=g.id,
                kind=g.kind,
                cases=len(mine),
                references=[ref for _, ref, _, _ in mine],
                agencies=agencies,
                categories=list(g.categories),
                governorate=g.governorate,
                block=g.block,
                road=g.road,
                first_report=g.first_at.astimezone(zone).isoformat(),
                last_report=g.last_at.astimezone(zone).isoformat(),
                trend=_trend([at for at, *_ in mine], zone),
                known=mark is not None,
                owner_agency=mark.owner_agency if mark else None,
                flagged=sum(1 for *_, f in mine if f),
            )
        )
    return sorted(out, key=lambda x: (-x.cases, x.first_report, x.group))
