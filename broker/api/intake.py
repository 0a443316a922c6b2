"""The national system's API: submit cases, read them back, follow their events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from broker import events
from broker.api.deps import get_hub_dep, national_system
from broker.api.replies import model_reply
from broker.errors import Unprocessable
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.cases import find_case_id, get_case
from schemas import AcceptedCase, BatchAccepted, CaseBatch, CaseIn, CaseOut, Event, EventPage
from schemas.case import ahead_of_clock

NEXT_CURSOR = "X-Next-Cursor"

router = APIRouter(prefix="/v1", tags=["national system"])

Caller = Annotated[str, Depends(national_system)]
HubDep = Annotated[Hub, Depends(get_hub_dep)]


@router.post(
    "/cases",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseOut,
    responses={
        200: {"description": "This reference was submitted before: the existing case, unchanged."},
        409: {"description": "This reference was submitted before with different content (not a retry)."},
        401: {"description": "Missing or wrong API key."},
        413: {"description": "Body larger than the limit."},
        422: {"description": "A field is missing or wrong, or names an unknown agency or category."},
    },
)
def submit_case(case: CaseIn, hub: HubDep, caller: Caller) -> Response:
    """Accept a case; it is committed with its handoffs before this answers.

    Idempotent on `reference`: submitting the same case again returns the existing case with 200;
    the same reference with different content is a 409.
    A new case is answered as committed (routed, its handoffs pending), without reading it back.
    """
    _on_time(case)
    accepted = submit_cases(hub.engine, hub.directory, [case], actor=caller)[0]
    headers = {"Location": f"/v1/cases/{accepted.case_id}"}
    if accepted.written is not None:
        return model_reply(accepted.written, status.HTTP_201_CREATED, headers)
    with hub.engine.connect() as conn:
        return model_reply(get_case(conn, accepted.case_id), status.HTTP_200_OK, headers)


def _on_time(case: CaseIn, prefix: str = "") -> None:
    """Refuse a case sent from a clock running ahead of the hub's (more than five minutes)."""
    if ahead_of_clock(case.submitted_at):
        raise Unprocessable("is more than 5 minutes ahead of the hub's clock", field=f"{prefix}submitted_at")


@router.post(
    "/cases/batch",
    response_model=BatchAccepted,
    responses={
        401: {"description": "Missing or wrong API key."},
        413: {"description": "Body larger than the limit."},
        422: {"description": "A case is wrong; the field names its place (`cases.3.category`); none is accepted."},
    },
)
def submit_batch(batch: CaseBatch, hub: HubDep, caller: Caller) -> BatchAccepted:
    """Accept up to 100 cases in one transaction, all or none, each idempotent on its `reference`.

    For bulk transfers (and catching up after an outage): one commit instead of one per case.
    """
    for index, case in enumerate(batch.cases):
        _on_time(case, f"cases.{index}.")
    try:
        accepted = submit_cases(hub.engine, hub.directory, batch.cases, actor=caller)
    except Unprocessable as exc:
        raise Unprocessable(str(exc), field=f"cases.{exc.context['index']}.{exc.field}") from None
    return BatchAccepted(cases=[AcceptedCase(reference=a.reference, id=a.case_id, created=a.created) for a in accepted])


@router.get("/cases/{case_id}", response_model=CaseOut, responses={404: {"description": "No such case."}})
def read_case(case_id: str, hub: HubDep, caller: Caller) -> CaseOut:
    """A case by hub id or national reference, with its handoffs and their states."""
    with hub.engine.connect() as conn:
        return get_case(conn, case_id)


@router.get("/cases/{case_id}/events", response_model=list[Event], responses={404: {"description": "No such case."}})
def case_events(
    case_id: str,
    hub: HubDep,
    caller: Caller,
    response: Response,
    after: Annotated[
        int | None,
        Query(ge=0, le=2**63 - 1, description="The `X-Next-Cursor` header of the previous page (an event id)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Event]:
    """The events of one case, oldest first (the audit trail: what, when, who), paged (L9).

    When more remain, the `X-Next-Cursor` header holds the `after` of the next page.
    """
    with hub.engine.connect() as conn:
        page = events.for_case(conn, find_case_id(conn, case_id), after=after, limit=limit + 1)
    if len(page) > limit:
        page = page[:limit]
        response.headers[NEXT_CURSOR] = str(page[-1].id)
    return page


@router.get("/events", response_model=EventPage)
def event_feed(
    hub: HubDep,
    caller: Caller,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="The `next_cursor` of the previous page; 0 to start.")
    ] = 0,  # capped at BIGINT: beyond it the store raised (a 500)
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Every case event in order, cursor-paged; the same events the webhook sends."""
    with hub.engine.connect() as conn:
        page = events.feed(conn, after, limit)
    return EventPage(events=page, next_cursor=page[-1].id if page else after)
