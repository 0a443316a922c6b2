"""Review: answers waiting for the central office; accept (the reply may be edited) or return with a reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from broker import review
from broker.console.permissions import Permission
from broker.console.routes.actions import act
from broker.console.web import PREFIX, Staff, staff, staff_form

router = APIRouter()
Reviewer = Annotated[Staff, Depends(staff_form(Permission.review))]


@router.get("/review", response_class=HTMLResponse)
def review_page(person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """Answers waiting for review, oldest first."""
    with person.hub.engine.connect() as conn:
        items = review.awaiting(conn)
    return person.render("review.html", items=items, agencies=person.hub.directory.agencies)


@router.post("/handoffs/{handoff_id}/accept")
def accept(handoff_id: str, person: Reviewer) -> RedirectResponse:
    """Accept the answer; the (possibly edited) reply goes to the national system for the citizen."""
    reply = person.field("reply").strip() or None
    return act(
        person,
        f"{PREFIX}/handoffs/{handoff_id}",
        lambda: review.accept(person.hub.engine, handoff_id, person.actor, reply=reply),
    )


@router.post("/handoffs/{handoff_id}/return")
def send_back(handoff_id: str, person: Reviewer) -> RedirectResponse:
    """Return the answer to its agency with the reason: a new round, with its clock."""
    hub = person.hub
    reason = person.field("reason")
    return act(
        person,
        f"{PREFIX}/handoffs/{handoff_id}",
        lambda: review.send_back(hub.engine, hub.directory, handoff_id, reason, person.actor),
    )
