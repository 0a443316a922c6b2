"""Unmatched inbound mail: what came from an agency naming no handoff; attach it to one, or dismiss it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from broker import inbound
from broker.console.permissions import Permission
from broker.console.routes.actions import act
from broker.console.web import PREFIX, Staff, staff, staff_form
from broker.errors import Unprocessable
from schemas import MessageKind

router = APIRouter()
FollowUp = Annotated[Staff, Depends(staff_form(Permission.follow_up))]


@router.get("/inbound", response_class=HTMLResponse)
def inbound_page(person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """The unmatched items, oldest first."""
    with person.hub.engine.connect() as conn:
        items = inbound.unresolved(conn)
    return person.render("inbound.html", items=items, agencies=person.hub.directory.agencies, kinds=list(MessageKind))


@router.post("/inbound/{item}/attach")
def attach(item: str, person: FollowUp) -> RedirectResponse:
    """Record the item as the agency's message on one of its handoffs."""
    handoff = person.field("handoff").strip()
    kind = person.field("kind", "answered")

    def settle() -> None:
        if not handoff:
            raise Unprocessable("name the handoff it is about", field="handoff")
        if kind not in MessageKind.__members__:
            raise Unprocessable("choose what the agency said", field="kind")
        inbound.settle_unmatched(person.hub, item, actor=person.actor, handoff_id=handoff, kind=MessageKind(kind))

    return act(person, f"{PREFIX}/inbound", settle)


@router.post("/inbound/{item}/dismiss")
def dismiss(item: str, person: FollowUp) -> RedirectResponse:
    """Take the item off the list without recording it."""
    return act(
        person,
        f"{PREFIX}/inbound",
        lambda: inbound.settle_unmatched(person.hub, item, actor=person.actor, kind=MessageKind.progress),
    )
