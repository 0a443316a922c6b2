"""The recurring-complaints report: groups of two or more cases, with their places, agencies and trend."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
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


def weeks_between(first: str, last: str) -> list[str]:
    """Every ISO week from `first` to `last` (`2026-W45`), both included."""
    day, end = (date.fromisocalendar(int(w[:4]), int(w[6:]), 1) for w in (first, last))
    weeks = []
    while day <= end:
        year, week, _ = day.isocalendar()
        weeks.append(f"{year}-W{week:02d}")
        day += timedelta(days=7)
    return weeks


def _trend(times: list[datetime], zone: ZoneInfo) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for at in times:
        counts[_week(at, zone)] = counts.get(_week(at, zone), 0) + 1
    return [(w, counts.get(w, 0)) for w in weeks_between(_week(min(times), zone), _week(max(times), zone))]


@dataclass(frozen=True)
class Mark:
    """The central office's mark on a group: a known recurring problem, and who owns its permanent fix."""

    owner_agency: str
    note: str | None
    marked_by: str
    marked_at: datetime


def mark_of(conn: Connection, group_id: str) -> Mark | None:
    """The group's mark, if it has one."""
    row = conn.execute(select(recurring_marks).where(recurring_marks.c.group_id == group_id)).first()
    return Mark(row.owner_agency, row.note, row.marked_by, row.marked_at) if row else None


def recurring_report(
    conn: Connection,
    zone: ZoneInfo,
    start: date | None = None,
    end: date | None = None,
    agency: str | None = None,
    least: int = 2,
    group: str | None = None,
) -> list[RecurringGroup]:
    """Groups of at least `least` cases reported within [start, end] (local days), largest first.

    With `agency`, only groups with a case that went to that agency; with `group`, only that group.
    """
    query = select(recurring_groups).where(recurring_groups.c.size >= least)
    if group is not None:
        query = query.where(recurring_groups.c.id == group)
    if start is not None:
        query = query.where(recurring_groups.c.last_at >= datetime.combine(start, time(), zone))
    if end is not None:
        query = query.where(recurring_groups.c.first_at < datetime.combine(end + timedelta(days=1), time(), zone))
    groups = conn.execute(query).all()
    marks = {
        m.group_id: m
        for m in conn.execute(select(recurring_marks).where(recurring_marks.c.group_id.in_([g.id for g in groups])))
    }
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


CSV_FIELDS = [f.name for f in fields(RecurringGroup)]


def csv_row(g: RecurringGroup) -> dict[str, object]:
    """One group as a CSV row: lists joined by spaces, the trend as `week:count` pairs."""
    row = asdict(g)
    for name in ("references", "agencies", "categories"):
        row[name] = " ".join(row[name])
    row["trend"] = " ".join(f"{w}:{n}" for w, n in g.trend)
    return row
