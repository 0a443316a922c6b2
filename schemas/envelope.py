"""What an adapter is given: a handoff to deliver, or a follow-on message about it, and what it answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from schemas.agency import AgencyConfig
from schemas.case import SharedCase
from schemas.follow_on import FollowOn


class HandoffClocks(BaseModel):
    """A handoff's deadlines, in UTC and in the working calendar's time zone (Asia/Bahrain)."""

    acknowledge_by: AwareDatetime | None = None
    answer_by: AwareDatetime | None = None
    acknowledge_by_local: datetime | None = Field(default=None, description="The same instant, local time.")
    answer_by_local: datetime | None = None
    answer_by_day: str | None = Field(default=None, description="The local day the answer time runs out (ISO).")


class HistoryItem(BaseModel):
    """One message of the conversation so far, either way."""

    at: AwareDatetime
    direction: Literal["from_agency", "to_agency"]
    kind: str
    text: str


class Envelope(BaseModel):
    """One delivery of one handoff; `idempotency_key` is the same on every attempt.

    `case` holds only what this agency may see (its `share` policy). `reply_token` is signed by the
    hub: an adapter puts it where the agency's answer will carry it back (a reply address, a
    header), so that what comes back names its handoff without the adapter touching the store.
    """

    handoff_id: str
    case_id: str
    idempotency_key: str
    attempt: int
    agency: AgencyConfig
    case: SharedCase
    reply_token: str = ""
    agency_reference: str | None = Field(default=None, description="The agency's ticket id, once known.")
    clocks: HandoffClocks = HandoffClocks()
    round: int = Field(default=1, description="1, then one more each time the case comes back to the agency.")
    history: list[HistoryItem] = []
    thread: list[str] = Field(default=[], description="Transport ids of what was sent so far (e.g. Message-IDs).")


class FollowOnEnvelope(Envelope):
    """A follow-on message about a delivered handoff; `idempotency_key` is the follow-on's own id."""

    follow_on: FollowOn


class Receipt(BaseModel):
    """What a successful delivery or follow-on tells the hub."""

    agency_reference: str | None = Field(default=None, description="The agency's own ticket id, if it gave one.")
    message_id: str | None = Field(
        default=None, description="The transport's id of what was sent (a mail's Message-ID), to match replies."
    )
