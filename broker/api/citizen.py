"""The national system passes on what a citizen answered when an agency asked for more information."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from broker.api.deps import get_hub_dep, national_system
from broker.deadlines import record_citizen_info
from broker.hub import Hub
from schemas import CitizenInfo
from schemas.sla import DeadlineNotice

router = APIRouter(prefix="/v1", tags=["national system"])

Caller = Annotated[str, Depends(national_system)]
HubDep = Annotated[Hub, Depends(get_hub_dep)]


class CitizenInfoRecorded(BaseModel):
    """The handoffs whose clocks restarted, each with its new answer-by time (to tell the citizen)."""

    case: str
    resumed: list[DeadlineNotice]


@router.post(
    "/cases/{case_id}/citizen-info",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CitizenInfoRecorded,
    responses={401: {"description": "Missing or wrong API key."}, 404: {"description": "No such case."}},
)
def citizen_info(case_id: str, info: CitizenInfo, hub: HubDep, caller: Caller) -> CitizenInfoRecorded:
    """Record the citizen's reply (case id or national reference) and restart every paused handoff.

    Each resumed handoff gets the working time it had left when the agency asked; the new
    answer-by times are in the answer and in `handoff.resumed` events.
    """
    case, resumed = record_citizen_info(hub.engine, hub.directory, case_id, info, actor=caller)
    return CitizenInfoRecorded(case=case, resumed=[DeadlineNotice.model_validate(r) for r in resumed])
