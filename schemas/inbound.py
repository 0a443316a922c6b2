"""What adapters bring in from agencies: messages with the key of the agency's own change."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from schemas.message import AgencyMessage


class InboundFile(BaseModel):
    """A file that came with an agency's message as bytes (a mail attachment)."""

    filename: str
    content_type: str
    data: bytes


class Inbound(AgencyMessage):
    """An agency message as an adapter read it.

    `dedup_key` names the agency's own change (a journal entry id, an update time, a Message-ID):
    the same change read twice is taken once, the same status reached again in a later round is
    taken again. A message names its handoff by `handoff` (polling knows it), by a signed
    `reply_token`, or by `references` to what the hub sent (Message-IDs); the hub resolves and
    verifies, never the adapter.
    """

    dedup_key: str = Field(min_length=1, max_length=200)
    reply_token: str | None = None
    references: list[str] = Field(default_factory=list)
    files: list[InboundFile] = Field(default_factory=list)


class PollItem(BaseModel):
    """A handoff the hub asks an adapter to poll for news about."""

    handoff_id: str
    agency_reference: str | None
    state: str
    round: int = 1


class Unmatched(BaseModel):
    """Something that came in but names no handoff the hub can verify: for the central office to look at."""

    dedup_key: str = Field(min_length=1, max_length=200)
    reason: str
    sender: str = ""
    subject: str = ""
    text: str = ""
    received_at: datetime | None = None


class Notice(BaseModel):
    """Something about a handoff that is not an agency message.

    A `bounce` (a delivery-status notification) means what the hub sent never reached the agency:
    the delivery fails with `text` as the reason. An `auto_reply` (out of office) is recorded on the
    handoff and is not an answer.
    """

    kind: Literal["bounce", "auto_reply"]
    dedup_key: str = Field(min_length=1, max_length=200)
    handoff: str | None = None
    reply_token: str | None = None
    references: list[str] = Field(default_factory=list)
    text: str = ""


class InboxBatch(BaseModel):
    """What one read of an agency's stream gave, and where the next read starts."""

    messages: list[Inbound] = []
    notices: list[Notice] = []
    unmatched: list[Unmatched] = []
    cursor: str | None = Field(default=None, description="Opaque to the hub; stored and handed back next time.")
