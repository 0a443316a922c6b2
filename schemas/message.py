"""What comes back from an agency, whatever the transport."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from schemas.case import Attachment, Slug, no_controls

AgencyReference = Annotated[str, StringConstraints(pattern=r"^[\w./:#-]{1,100}$")]
"""An agency's own ticket id: letters, digits and `. / : # - _` only (it is filled into URLs, percent-encoded)."""


class MessageKind(StrEnum):
    """The six things an agency can say about a handoff."""

    acknowledged = "acknowledged"
    progress = "progress"
    answered = "answered"
    needs_info = "needs_info"
    transfer_requested = "transfer_requested"
    rejected = "rejected"


class AgencyMessage(BaseModel):
    """One agency message; `handoff` is set by the hub from the URL or the adapter."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "handoff": "h_01JD7YQ4ZQ0000000000000000",
                    "kind": "answered",
                    "text": "تم إصلاح الخط وإعادة ضخ المياه.",
                    "agency_reference": "MOW-2026-88812",
                    "sent_at": "2026-11-24T12:40:00+03:00",
                    "attachments": [],
                }
            ]
        },
    )

    handoff: str | None = None
    kind: MessageKind
    text: Annotated[str, StringConstraints(max_length=20000)] = ""
    agency_reference: AgencyReference | None = None
    sent_at: AwareDatetime | None = None
    transfer_to: Slug | None = Field(
        default=None, description="For transfer_requested: the agency the case should go to, if known."
    )
    attachments: Annotated[list[Attachment], Field(max_length=20)] = []

    @field_validator("*", mode="after")
    @classmethod
    def _no_controls(cls, value: Any) -> Any:
        return no_controls(value) if isinstance(value, str) else value
