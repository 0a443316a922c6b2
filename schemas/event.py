"""Events: the audit trail and what the national system is told."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class Event(BaseModel):
    """One entry of the append-only event log; `id` is the feed cursor."""

    id: int
    type: str
    case: str
    reference: str
    handoff: str | None
    actor: str
    data: dict[str, Any]
    created_at: datetime


class EventPage(BaseModel):
    """A page of the event feed; pass `next_cursor` as `after` to read on."""

    events: list[Event]
    next_cursor: int
