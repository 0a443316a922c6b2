"""What the agency API (/agency/v1) answers: an agency's view of its own handoffs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from schemas.case import _EXAMPLE as _CASE
from schemas.case import Attachment, CaseIn, CaseKind, Location, SharedCitizen
from schemas.handoff import HandoffState
from schemas.message import MessageKind

_ITEM: JsonDict = {
    "id": "h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V",
    "reference": "TW-2026-004217",
    "kind": "complaint",
    "category": "water-supply",
    "subject": "انقطاع المياه عن المنزل منذ ثلاثة أيام",
    "state": "delivered",
    "overdue": False,
    "agency_reference": None,
    "submitted_at": "2026-11-22T06:14:00Z",
    "created_at": "2026-11-22T06:14:02Z",
    "updated_at": "2026-11-22T06:14:03Z",
}

_DETAIL: JsonDict = {
    **_ITEM,
    **{k: _CASE[k] for k in ("description", "language", "channel", "location", "attachments")},
    "citizen": {"name": "فاطمة علي", "preferred_language": "ar"},
    "messages": [],
    "accepts": ["acknowledged", "progress", "answered", "needs_info", "transfer_requested", "rejected"],
}


class AgencyHandoffItem(BaseModel):
    """One handoff in an agency's list: enough to pick it, without the citizen's contact details."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ITEM]})

    id: str
    reference: str = Field(description="The national system's case reference.")
    kind: CaseKind
    category: str
    subject: str
    state: HandoffState
    overdue: bool
    agency_reference: str | None = Field(description="The agency's own ticket id, once it gave one.")
    submitted_at: datetime
    created_at: datetime = Field(description="When the hub handed the case to this agency.")
    updated_at: datetime


class AgencyHandoffPage(BaseModel):
    """A page of an agency's open handoffs, oldest first; pass `next_cursor` as `after` to read on."""

    handoffs: list[AgencyHandoffItem]
    next_cursor: str | None = Field(description="Null on the last page.")


class SentMessage(BaseModel):
    """A message recorded on the handoff: from the agency API, its adapter, or a call the central office noted."""

    id: str
    kind: MessageKind
    text: str
    agency_reference: str | None
    created_at: datetime


class AgencyHandoff(AgencyHandoffItem):
    """One handoff with the case as the agency needs it to act, including the citizen's contact."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DETAIL]})

    description: str
    language: str
    channel: str
    location: Location | None
    attachments: list[Attachment]
    citizen: SharedCitizen | None = Field(
        description="Personal data, as far as the agency's share policy goes, for handling this case only; "
        "null once the handoff is no longer with the agency (transferred, withdrawn, answered and accepted)."
    )
    messages: list[SentMessage]
    accepts: list[MessageKind] = Field(description="The message kinds the handoff's state admits now.")


class MessageReceipt(BaseModel):
    """What the hub says to a posted message."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "m_01JD8A2B3C4D5E6F7G8H9J0K1M",
                    "handoff": "h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V",
                    "handoff_state": "answered",
                    "duplicate": False,
                }
            ]
        }
    )

    message: str
    handoff: str
    handoff_state: HandoffState
    duplicate: bool = Field(description="True when this message was recorded before: nothing changed.")


class DeliveredAttachment(Attachment):
    """An attachment as the agency receives it, the way its configuration says."""

    content_base64: str | None = Field(
        default=None, description="With `attachments.mode: base64`: the file itself (and no `url`)."
    )


class AgencyDelivery(BaseModel):
    """The body the hub POSTs to a connected agency when its configuration sets no body mapping."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"handoff": _ITEM["id"], "case": _CASE, "attachments": []}]}
    )

    handoff: str = Field(description="The handoff's id: quote it when calling the agency API.")
    case: CaseIn
    attachments: list[DeliveredAttachment] = Field(
        description="`links`: as the citizen sent them, with `url`; `base64`: with `content_base64`; "
        "`multipart`: the JSON goes as part `case` and each file as a part `files`."
    )
