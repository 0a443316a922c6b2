"""Statistics as charts people read at a glance, with the numbers behind each chart as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from broker import statistics
from broker.console import charts
from broker.console.permissions import Permission
from broker.console.web import Refused, Staff, csv_download, staff
from broker.statistics import Period, Series

router = APIRouter()
CSV_NAMES = ("cases-by-kind", "cases-by-agency", "growth", "agencies", "queue-size")


@dataclass(frozen=True)
class Figures:
    """Everything the statistics page shows, read once."""

    period: Period
    by_kind: Series
    by_agency: Series
    growth: list[float | None]
    quality: list[statistics.AgencyQuality]
    queue: list[tuple[datetime, int]]


def _figures(person: Staff) -> Figures:
    q = person.request.query_params
    period = Period(q["period"]) if q.get("period") in Period.__members__ else Period.month
    count = int(q["count"]) if q.get("count", "").isdigit() and 1 < int(q["count"]) <= 60 else 6
    hub = person.hub
    with hub.engine.connect() as conn:
        by_kind = statistics.cases_by_kind(conn, period, count)
        by_agency = statistics.cases_by_agency(conn, period, count)
        quality = statistics.agency_quality(conn, hub.directory.sla)
        since = datetime.combine(by_kind.starts[0], time(), statistics.ZONE)
        queue = statistics.queue_size(conn, since)
    return Figures(period, by_kind, by_agency, statistics.growth(by_kind.totals()), quality, queue)


def _agency_name(person: Staff, agency_id: str) -> str:
    agency = person.hub.directory.agencies.get(agency_id)
    return person.texts.pick((agency.name_ar, agency.name_en)) if agency else agency_id


@router.get("/stats", response_class=HTMLResponse)
def stats_page(person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """The charts."""
    f = _figures(person)
    t = person.texts
    kinds = {k: t(k) for k in statistics.KINDS}
    agencies = {a: _agency_name(person, a) for a in f.by_agency.values}
    growth_rows = [
        (label, g, "—" if g is None else f"{g:+.1f} %") for label, g in zip(f.by_kind.labels, f.growth, strict=True)
    ]
    svg = {
        "kind": charts.grouped_bars(
            t("cases_by_kind"), "chart-kind", f.by_kind.labels, f.by_kind.values, kinds, t.number
        ),
        "agency": charts.grouped_bars(
            t("cases_by_agency"), "chart-agency", f.by_agency.labels, f.by_agency.values, agencies, t.number
        ),
        "growth": charts.horizontal_bars(
            t("growth"),
            "chart-growth",
            growth_rows,
            max([abs(g) for _, g, _ in growth_rows if g is not None] + [1.0]),
            t.number,
        ),
        "on_time": charts.horizontal_bars(
            t("on_time_share"),
            "chart-on-time",
            [
                (
                    _agency_name(person, a.agency),
                    a.answered_on_time,
                    "—" if a.answered_on_time is None else f"{a.answered_on_time:.0%}",
                )
                for a in f.quality
            ],
            1.0,
            t.number,
        ),
        "satisfaction": charts.horizontal_bars(
            t("satisfaction"),
            "chart-satisfaction",
            [
                (
                    _agency_name(person, a.agency),
                    a.satisfaction,
                    "—" if a.satisfaction is None else f"{a.satisfaction:.2f}",
                )
                for a in f.quality
                if a.surveys
            ],
            5.0,
            t.number,
        ),
        "queue": charts.line(
            t("queue_size"),
            "chart-queue",
            [(t.when(at), n) for at, n in f.queue],
            t.number,
        ),
    }
    return person.render(
        "stats.html",
        f=f,
        svg={k: Markup(v) for k, v in svg.items()},  # noqa: S704 - built by charts.py, every text escaped there
        periods=list(Period),
        query=person.request.url.query,
    )


@router.get("/stats/{name}.csv")
def stats_csv(name: str, person: Annotated[Staff, Depends(staff(Permission.view))]) -> Response:
    """The numbers behind one chart."""
    if name not in CSV_NAMES:
        raise Refused(404, "not_found", person.texts)
    f = _figures(person)
    rows: list[list[object]]
    if name == "cases-by-kind":
        rows = [["period", *statistics.KINDS, "total"]]
        totals = f.by_kind.totals()
        rows += [
            [lab, *(f.by_kind.values[k][i] for k in statistics.KINDS), totals[i]]
            for i, lab in enumerate(f.by_kind.labels)
        ]
    elif name == "cases-by-agency":
        rows = [["period", "agency", "name_ar", "name_en", "cases"]]
        directory = person.hub.directory.agencies
        for agency, values in f.by_agency.values.items():
            names = (directory[agency].name_ar, directory[agency].name_en) if agency in directory else ("", "")
            rows += [[lab, agency, *names, values[i]] for i, lab in enumerate(f.by_agency.labels)]
    elif name == "growth":
        rows = [["period", "cases", "growth_percent"]]
        rows += [
            [lab, total, "" if g is None else g]
            for lab, total, g in zip(f.by_kind.labels, f.by_kind.totals(), f.growth, strict=True)
        ]
    elif name == "agencies":
        rows = [["agency", "handoffs", "answered_on_time", "surveys", "mean_satisfaction"]]
        rows += [
            [
                a.agency,
                a.handoffs,
                "" if a.answered_on_time is None else a.answered_on_time,
                a.surveys,
                a.satisfaction or "",
            ]
            for a in f.quality
        ]
    else:
        rows = [["at", "queue_size"]]
        rows += [[at.isoformat(), n] for at, n in f.queue]
    return csv_download(rows, name)
