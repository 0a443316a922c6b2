"""A handoff's page and what an officer does about it.

Record a contact, resend or confirm a delivery, transfer, decide an extension, assign: each action
calls the same core function as the CLI.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from broker import circuit, deadlines, followup, redelivery, transfers
from broker.console import work
from broker.console.permissions import Permission
from broker.console.routes.actions import act
from broker.console.web import PREFIX, Refused, Staff, staff, staff_form
from broker.envelopes import shared_case
from broker.errors import NotFound, Unprocessable
from broker.messages import Sender, record_message
from schemas import AgencyMessage, FollowupReason, MessageKind

router = APIRouter()
CHANNELS = ("call", "letter", "visit")
FollowUp = Annotated[Staff, Depends(staff_form(Permission.follow_up))]


def _back(handoff_id: str) -> str:
    return f"{PREFIX}/handoffs/{handoff_id}"


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse)
def handoff_page(handoff_id: str, person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """The case as the agency sees it, the timeline, messages both ways, deadlines, contacts and actions."""
    hub = person.hub
    with hub.engine.connect() as conn:
        try:
            d = followup.detail(conn, handoff_id)
        except NotFound:
            raise Refused(404, "not_found", person.texts) from None
        assigned = work.assigned_to(conn, handoff_id)
        officers = work.officers(conn)
        circuits = circuit.load(conn)
    h = d.handoff
    agency = hub.directory.agencies.get(h.agency_id)
    seen = shared_case(d.case["payload"], agency).model_dump(mode="json") if agency else {}
    return person.render(
        "handoff.html",
        d=d,
        h=h,
        case=d.case,
        payload=d.case["payload"],
        seen=seen,
        agency=agency,
        agencies=hub.directory.agencies,
        circuit=circuits.get(h.agency_id),
        assigned=assigned,
        officers=officers,
        left=work.working_left(hub.directory.sla, h),
        reason=FollowupReason(h.followup_reason) if h.followup_reason else None,
        kinds=list(MessageKind),
        channels=CHANNELS,
    )


@router.post("/handoffs/{handoff_id}/contact")
def record_contact(handoff_id: str, person: FollowUp) -> RedirectResponse:
    """Record a call, letter or visit and what the agency said; it flows on like a connected agency's message."""
    hub = person.hub
    channel = person.field("channel", "call")
    if channel not in CHANNELS:
        channel = "call"

    def record() -> None:
        kind = person.field("kind")
        if kind not in MessageKind.__members__:
            raise Unprocessable("choose what the agency said", field="kind")
        message = AgencyMessage(
            kind=MessageKind(kind),
            text=person.field("text").strip(),
            agency_reference=person.field("reference").strip() or None,
            transfer_to=person.field("transfer_to") or None,
        )
        if message.kind in (MessageKind.answered, MessageKind.needs_info) and not message.text:
            raise Unprocessable(f"write what the agency said ({kind})", field="text")
        record_message(hub.engine, hub.directory, handoff_id, message, Sender(person.actor, f"manual:{channel}"))

    return act(person, _back(handoff_id), record)


@router.post("/handoffs/{handoff_id}/resend")
def resend(handoff_id: str, person: FollowUp) -> RedirectResponse:
    """Send a failed or uncertain delivery again."""
    return act(person, _back(handoff_id), lambda: redelivery.resend(person.hub.engine, handoff_id, actor=person.actor))


@router.post("/handoffs/{handoff_id}/confirm")
def confirm(handoff_id: str, person: FollowUp) -> RedirectResponse:
    """An uncertain delivery reached the agency: it counts as delivered under the agency's reference."""
    reference = person.field("reference")
    return act(
        person,
        _back(handoff_id),
        lambda: redelivery.confirm(person.hub.engine, handoff_id, reference, actor=person.actor),
    )


@router.post("/handoffs/{handoff_id}/transfer")
def transfer(handoff_id: str, person: FollowUp) -> RedirectResponse:
    """Move the case to another agency, or refuse the agency's transfer request."""
    hub = person.hub
    refuse = person.field("decision") == "refuse"
    return act(
        person,
        _back(handoff_id),
        lambda: transfers.decide(
            hub.engine,
            hub.directory,
            handoff_id,
            approve=not refuse,
            to_agency=person.field("to") or None,
            actor=person.actor,
            reason=person.field("reason"),
        ),
    )


@router.post("/handoffs/{handoff_id}/extension")
def extension(handoff_id: str, person: FollowUp) -> RedirectResponse:
    """Grant or refuse the agency's request for more time."""
    hub = person.hub
    grant = person.field("decision") == "grant"
    return act(
        person,
        _back(handoff_id),
        lambda: deadlines.decide_extension(
            hub.engine, hub.directory.sla, handoff_id, grant=grant, actor=person.actor, note=person.field("note")
        ),
    )


@router.post("/handoffs/{handoff_id}/assign")
def assign(handoff_id: str, person: FollowUp) -> RedirectResponse:
    """Give the handoff to an officer."""
    username = person.field("username")
    return act(
        person, _back(handoff_id), lambda: work.assign(person.hub.engine, handoff_id, username, actor=person.actor)
    )
