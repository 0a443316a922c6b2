"""Agencies: each one's adapter, onboarding status, health, and its open, overdue and on-time counts."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from broker import circuit, gauges, reports
from broker.console.permissions import Permission
from broker.console.web import Staff, staff
from broker.store.engine import now
from broker.store.tables import events, handoffs

router = APIRouter()


@router.get("/agencies", response_class=HTMLResponse)
def agencies_page(person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """Every agency of the directory with its health and its counts."""
    hub = person.hub
    with hub.engine.connect() as conn:
        circuits = circuit.load(conn)
        opened: Counter[str] = Counter()
        overdue: Counter[str] = Counter()
        for row in gauges.open_handoffs(conn):
            opened[row.agency_id] += row.open
            overdue[row.agency_id] += row.overdue
        sla = {line.agency: line for line in reports.sla_report(conn, hub.directory.sla, None, None, now())}
        delivered = (
            select(handoffs.c.agency_id, func.max(events.c.created_at))
            .join(handoffs, handoffs.c.id == events.c.handoff_id)
            .where(events.c.type == "handoff.delivered")
            .group_by(handoffs.c.agency_id)
        )
        last_success = {str(r[0]): r[1] for r in conn.execute(delivered)}
    rows = [
        {
            "agency": a,
            "circuit": circuits.get(a.id),
            "open": opened[a.id],
            "overdue": overdue[a.id],
            "on_time": sla[a.id].answered_on_time if a.id in sla else None,
            "last_success": last_success.get(a.id),
        }
        for a in hub.directory.agencies.values()
        if not a.operator
    ]
    return person.render("agencies.html", rows=rows)
