"""A case's page: its handoffs, its timeline, the citizen's survey; closing it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from broker import events, review, surveys
from broker.console.permissions import Permission
from broker.console.routes.actions import act
from broker.console.web import PREFIX, Refused, Staff, staff, staff_form
from broker.errors import NotFound
from broker.store.cases import find_case_id, get_case

router = APIRouter()


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: str, person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """One case with every handoff, the events and the survey."""
    with person.hub.engine.connect() as conn:
        try:
            found = find_case_id(conn, case_id)
        except NotFound:
            raise Refused(404, "not_found", person.texts) from None
        case = get_case(conn, found)
        trail = events.for_case(conn, found)
        survey = surveys.for_case(conn, found)
    return person.render("case.html", case=case, trail=trail, survey=survey, agencies=person.hub.directory.agencies)


@router.post("/cases/{case_id}/close")
def close(case_id: str, person: Annotated[Staff, Depends(staff_form(Permission.close))]) -> RedirectResponse:
    """Close a replied case; each agency that answered is told."""
    hub = person.hub
    return act(
        person, f"{PREFIX}/cases/{case_id}", lambda: review.close(hub.engine, hub.directory, case_id, person.actor)
    )
