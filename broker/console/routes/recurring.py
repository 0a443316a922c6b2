"""Recurring complaints: the groups with their trend, one group's cases, and marking a known problem."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from broker.console import charts
from broker.console.permissions import Permission
from broker.console.routes.actions import act
from broker.console.web import PREFIX, Refused, Staff, csv_download, staff, staff_form
from broker.errors import NotFound, Unprocessable
from broker.recurring.report import CSV_FIELDS, RecurringGroup, csv_row, mark_of, recurring_report, weeks_between
from broker.recurring.store import mark
from broker.store.engine import transaction
from broker.store.tables import cases

router = APIRouter()
CHART_GROUPS = 4
"""Groups drawn in the trend chart (the largest), each a series; more would not read at a glance."""
CHART_WEEKS = 12
PAGE = 50
"""Groups a page lists (the chart always shows the largest; the CSV has them all)."""


@dataclass(frozen=True)
class Filters:
    """The list's filters, from the query string; anything malformed is ignored, as on the other pages."""

    start: date | None
    end: date | None
    agency: str | None
    known: str  # "", "known" or "not_known"
    least: int
    page: int

    def query(self, page: int) -> str:
        """The query string of these filters on another page."""
        values = {"from": self.start, "to": self.end, "agency": self.agency, "known": self.known, "least": self.least}
        return urlencode({k: v for k, v in {**values, "page": page}.items() if v not in (None, "")})


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filters(person: Staff) -> Filters:
    q = person.request.query_params
    agency = q.get("agency") or None
    least, page = q.get("least", ""), q.get("page", "")
    return Filters(
        start=_day(q.get("from")),
        end=_day(q.get("to")),
        agency=agency if agency in person.hub.directory.agencies else None,
        known=q.get("known", "") if q.get("known") in ("known", "not_known") else "",
        least=int(least) if least.isdigit() and 2 <= int(least) <= 1000 else 2,
        page=max(int(page), 1) if page.isdigit() and len(page) < 7 else 1,
    )


def _groups(person: Staff, f: Filters) -> list[RecurringGroup]:
    hub = person.hub
    with hub.engine.connect() as conn:
        groups = recurring_report(conn, hub.directory.sla.calendar.zone, f.start, f.end, f.agency, f.least)
    return [g for g in groups if not f.known or g.known == (f.known == "known")]


def _category(person: Staff, g: RecurringGroup) -> str:
    route = person.hub.directory.categories.get(g.categories[0]) if g.categories else None
    return person.texts.pick((route.name_ar, route.name_en)) if route else person.texts(g.kind)


def _label(person: Staff, g: RecurringGroup) -> str:
    """What a person calls a group: its category and its place."""
    return f"{_category(person, g)} — {_place(person, g)}"


def _place(person: Staff, g: RecurringGroup) -> str:
    """Governorate, block and road in the person's language."""
    t = person.texts
    parts = [t(g.governorate)] if g.governorate else []
    parts += [f"{t('block')} {t.number(g.block)}"] if g.block else []
    parts += [f"{t('road')} {t.number(g.road)}"] if g.road else []
    return ("، " if t.language == "ar" else ", ").join(parts) or "—"


def _legend(person: Staff, rank: int, g: RecurringGroup) -> str:
    """A chart legend entry, short enough for its 150 pixels: the table's rank, the category, the block."""
    t = person.texts
    what = _category(person, g)
    where = t.number(g.block) if g.block else (t(g.governorate) if g.governorate else "")
    return f"{t.number(rank)}. {what[:14]}{' · ' + where if where else ''}"


def _trend_chart(person: Staff, groups: list[RecurringGroup]) -> str:
    """The largest groups' cases per week, over the last CHART_WEEKS weeks any of them was reported in."""
    top = groups[:CHART_GROUPS]
    if not top:
        return ""
    weeks = weeks_between(min(g.trend[0][0] for g in top), max(g.trend[-1][0] for g in top))[-CHART_WEEKS:]
    series = {g.group: [dict(g.trend).get(w, 0) for w in weeks] for g in top}
    names = {g.group: _legend(person, i, g) for i, g in enumerate(top, 1)}
    return charts.grouped_bars(
        person.texts("recurring_trend"), "chart-recurring", weeks, series, names, person.texts.number
    )


@router.get("/recurring", response_class=HTMLResponse)
def recurring_page(person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """The groups, largest first, a page at a time, with a sparkline each and a chart of the largest."""
    f = _filters(person)
    everyone = _groups(person, f)
    first = (f.page - 1) * PAGE
    groups = everyone[first : first + PAGE]
    t = person.texts
    lines = {
        g.group: Markup(  # noqa: S704 - built by charts.py, every text escaped there
            charts.sparkline(
                " ".join(f"{w}: {n}" for w, n in g.trend), f"spark-{g.group}", [n for _, n in g.trend][-CHART_WEEKS:]
            )
        )
        for g in groups
    }
    return person.render(
        "recurring.html",
        f=f,
        groups=groups,
        labels={g.group: _label(person, g) for g in groups},
        lines=lines,
        chart=Markup(_trend_chart(person, everyone)),  # noqa: S704 - built by charts.py, every text escaped there
        agencies=person.hub.directory.agencies,
        grouping_on=person.hub.settings.recurring,
        query=person.request.url.query,
        n_groups=t.number(len(everyone)),
        first=first,
        more=len(everyone) > first + PAGE,
    )


@router.get("/recurring.csv")
def recurring_csv(person: Annotated[Staff, Depends(staff(Permission.view))]) -> Response:
    """The listed groups as CSV, the columns of `tawasul-hub report recurring --csv`."""
    rows = [csv_row(g) for g in _groups(person, _filters(person))]
    return csv_download([list(CSV_FIELDS), *([row[f] for f in CSV_FIELDS] for row in rows)], "recurring")


def _one(person: Staff, group_id: str) -> RecurringGroup:
    hub = person.hub
    with hub.engine.connect() as conn:
        found = recurring_report(conn, hub.directory.sla.calendar.zone, least=1, group=group_id)
    if not found:
        raise Refused(404, "not_found", person.texts)
    return found[0]


@router.get("/recurring/{group_id}", response_class=HTMLResponse)
def group_page(group_id: str, person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """One group: its place, agencies, cases and weekly trend, its mark, and the form to mark it."""
    g = _one(person, group_id)
    t = person.texts
    weeks = [w for w, _ in g.trend]
    chart = charts.grouped_bars(
        t("group_trend"),
        "chart-group",
        weeks,
        {"cases": [n for _, n in g.trend]},
        {"cases": t("cases_count")},
        t.number,
    )
    with person.hub.engine.connect() as conn:
        known = mark_of(conn, group_id)
        rows = conn.execute(
            select(cases.c.reference, cases.c.payload, cases.c.state).where(cases.c.reference.in_(g.references))
        ).all()
    subjects = {r.reference: (r.payload.get("subject", ""), r.state) for r in rows}
    return person.render(
        "recurring_group.html",
        g=g,
        label=_label(person, g),
        where=_place(person, g),
        chart=Markup(chart),  # noqa: S704 - built by charts.py, every text escaped there
        mark=known,
        subjects=subjects,
        agencies=person.hub.directory.agencies,
    )


@router.post("/recurring/{group_id}/mark")
def mark_group(
    group_id: str, person: Annotated[Staff, Depends(staff_form(Permission.mark_recurring))]
) -> RedirectResponse:
    """Mark the group as a known recurring problem owned by an agency; audited as `recurring.marked`."""
    _one(person, group_id)  # 404 for no such group
    owner = person.field("owner")
    note = person.field("note").strip() or None

    def marking() -> None:
        if owner not in person.hub.directory.agencies:
            raise Unprocessable(f"owner: unknown agency {owner!r}", field="owner")
        try:
            with transaction(person.hub.engine) as conn:
                mark(conn, group_id, owner, person.actor, note)
        except LookupError:
            raise NotFound(f"no group {group_id}") from None

    return act(person, f"{PREFIX}/recurring/{group_id}", marking, done="marked")
