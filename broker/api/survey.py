"""The national system reports the citizen's satisfaction survey of a case."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from broker import surveys
from broker.api.deps import get_hub_dep, national_system
from broker.hub import Hub

router = APIRouter(prefix="/v1", tags=["national system"])

Caller = Annotated[str, Depends(national_system)]
HubDep = Annotated[Hub, Depends(get_hub_dep)]


class SurveyIn(BaseModel):
    """The citizen's answer: a score from 1 (very dissatisfied) to 5 (very satisfied) and a comment."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"score": 5, "comment": "شكرًا على سرعة الاستجابة."}]}
    )

    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=4000)


class SurveyOut(BaseModel):
    """The survey as kept: the agencies whose answers it rates."""

    case: str
    score: int
    comment: str
    agencies: list[str]
    created_at: datetime


@router.post(
    "/cases/{case_id}/survey",
    status_code=status.HTTP_201_CREATED,
    response_model=SurveyOut,
    responses={
        401: {"description": "Missing or wrong API key."},
        404: {"description": "No such case."},
        409: {"description": "The case already has its survey, or has no reply yet."},
    },
)
def survey(case_id: str, body: SurveyIn, hub: HubDep, caller: Caller) -> SurveyOut:
    """Record the citizen's survey of a replied or closed case (id or national reference); once per case."""
    kept = surveys.record(hub.engine, case_id, body.score, body.comment, actor=caller)
    return SurveyOut(
        case=kept.case, score=kept.score, comment=kept.comment, agencies=kept.agencies, created_at=kept.created_at
    )
