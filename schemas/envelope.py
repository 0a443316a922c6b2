"""What an adapter is given to deliver: the handoff, its case and a stable idempotency key."""

from __future__ import annotations

from pydantic import BaseModel

from schemas.agency import AgencyConfig
from schemas.case import CaseIn


class Envelope(BaseModel):
    """One delivery of one handoff; `idempotency_key` is the same on every attempt."""

    handoff_id: str
    case_id: str
    idempotency_key: str
    attempt: int
    agency: AgencyConfig
    case: CaseIn


class Receipt(BaseModel):
    """What a successful delivery tells the hub (the agency's own ticket id, if any)."""

    agency_reference: str | None = None
    followup: str | None = None
