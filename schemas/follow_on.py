"""Follow-on messages: what the hub tells an agency about a handoff after delivering it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from schemas.case import Attachment, Slug


class FollowOnKind(StrEnum):
    """Why the hub writes to the agency again."""

    citizen_reply = "citizen_reply"
    """The citizen answered the agency's question (`needs_info`)."""
    answer_returned = "answer_returned"
    """The central office sent the agency's answer back, with the reviewer's reason."""
    reminder = "reminder"
    """The answer time is running out, has run out, or was escalated."""
    cancelled = "cancelled"
    """The central office withdrew the handoff."""
    transferred_away = "transferred_away"
    """The case now goes to another agency; this one need not act."""
    transfer_refused = "transfer_refused"
    """The central office did not approve the agency's request to transfer: the case stays with it."""
    case_closed = "case_closed"
    """The citizen has the answer and the case is closed."""


class ReminderKind(StrEnum):
    """Why an agency is reminded."""

    warning = "warning"
    overdue = "overdue"
    escalated = "escalated"


class ReminderDetail(BaseModel):
    """What a reminder is about."""

    kind: ReminderKind
    answer_due_at: AwareDatetime
    level: int = Field(default=0, description="Escalation level reached (0: none yet).")
    level_id: str | None = None


class Satisfaction(BaseModel):
    """The citizen's verdict, when the case closes after their survey."""

    score: Annotated[int, Field(ge=1, le=5)]
    comment: str = ""


class FollowOn(BaseModel):
    """One follow-on message; `id` is its idempotency key on every attempt."""

    id: str
    kind: FollowOnKind
    text_ar: str = Field(description="What a person at the agency reads, in Arabic.")
    text_en: str = Field(description="The same in English.")
    text: str = Field(default="", description="The citizen's words, or the reviewer's reason, as written.")
    attachments: list[Attachment] = []
    reminder: ReminderDetail | None = None
    transfer_to: Slug | None = None
    satisfaction: Satisfaction | None = None
    created_at: AwareDatetime
