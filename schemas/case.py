"""A case as the national system sends it (the wire contract in DESIGN.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator
from pydantic.config import JsonDict

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")]
"""Ids of agencies and categories: lower-case English slugs."""


class CaseKind(StrEnum):
    """What the citizen sent: the three kinds the seed names."""

    complaint = "complaint"
    suggestion = "suggestion"
    inquiry = "inquiry"


class CaseState(StrEnum):
    """Where a case is in its lifecycle (transitions live in broker.lifecycle)."""

    received = "received"
    routed = "routed"
    with_agency = "with_agency"
    answered = "answered"
    in_review = "in_review"
    returned = "returned"
    replied = "replied"
    closed = "closed"


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""C0 and C1 control characters (and DEL); tab, newline and carriage return are text (L3)."""
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")
"""Zero-width characters: no more a subject than white space is."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the hub's clock a `submitted_at` may be."""


def ahead_of_clock(value: datetime, now: datetime | None = None) -> bool:
    """True when `value` is more than CLOCK_SKEW ahead of the hub's clock.

    Checked at intake only (broker.api.intake): stored cases are read back later, under any clock.
    """
    return value > (now or datetime.now(UTC)) + CLOCK_SKEW


def no_controls(value: str) -> str:
    """Refuse NUL and other control characters: they are never text, and PostgreSQL refuses NUL."""
    found = _CONTROLS.search(value)
    if found is not None:
        raise ValueError(f"control character U+{ord(found.group()):04X} at position {found.start()} is not allowed")
    return value


def not_blank(value: str) -> str:
    """Refuse text of only white space (any Unicode space, no-break spaces included) or zero-width characters."""
    if all(c.isspace() or c in _INVISIBLE for c in value):
        raise ValueError("must hold text, not only white space")
    return value


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_controls(cls, value: Any) -> Any:
        return no_controls(value) if isinstance(value, str) else value


class SharedCitizen(_Wire):
    """The citizen's details as one agency receives them: only the fields its `share` policy lists."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    cpr: Annotated[str, StringConstraints(pattern=r"^\d{9}$")] | None = None
    email: EmailStr | None = None
    mobile: Annotated[str, StringConstraints(pattern=r"^\+?\d{7,15}$")] | None = None
    preferred_language: Annotated[str, StringConstraints(pattern=r"^(ar|en)$")] = "ar"


class Citizen(SharedCitizen):
    """The citizen's contact: personal data, redacted in logs and never sent to the wrong agency."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Location(_Wire):
    """Where the matter is; the governorate drives municipal routing."""

    governorate: Annotated[str, StringConstraints(pattern=r"^(capital|muharraq|northern|southern)$")] | None = None
    block: Annotated[str, StringConstraints(max_length=20)] | None = None
    road: Annotated[str, StringConstraints(max_length=20)] | None = None
    building: Annotated[str, StringConstraints(max_length=20)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None


class Attachment(_Wire):
    """A file the citizen attached; the hub passes the reference, never the bytes."""

    filename: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$")]
    size: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None


_EXAMPLE: JsonDict = {
    "reference": "TW-2026-004217",
    "kind": "complaint",
    "category": "water-supply",
    "agency": None,
    "subject": "انقطاع المياه عن المنزل منذ ثلاثة أيام",
    "description": "انقطعت المياه عن منزلي في مجمع 525 منذ يوم الأحد ولم يصل أي رد من الخط الساخن.",
    "language": "ar",
    "channel": "portal",
    "submitted_at": "2026-11-22T09:14:00+03:00",
    "citizen": {
        "name": "فاطمة علي",
        "cpr": "850412345",
        "email": "fatima@example.bh",
        "mobile": "+97333123456",
        "preferred_language": "ar",
    },
    "location": {"governorate": "northern", "block": "525", "road": "2511", "building": "1123"},
    "attachments": [],
}


class _CaseFields(_Wire):
    """What every form of a case holds besides the citizen."""

    reference: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")]
    kind: CaseKind
    category: Slug
    agency: Slug | None = None
    subject: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=20000)]
    language: Annotated[str, StringConstraints(pattern=r"^(ar|en)$")] = "ar"
    channel: Annotated[str, StringConstraints(pattern=r"^[a-z-]{2,30}$")] = "portal"
    submitted_at: AwareDatetime
    location: Location | None = None
    attachments: Annotated[list[Attachment], Field(max_length=20)] = []

    @field_validator("subject", "description", mode="after")
    @classmethod
    def _has_text(cls, value: str) -> str:
        return not_blank(value)


class CaseIn(_CaseFields):
    """One request from a citizen, as the national system submits it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    citizen: Citizen


class SharedCase(_CaseFields):
    """A case as one agency receives it: the citizen's details cut down to the agency's `share` policy."""

    citizen: SharedCitizen = SharedCitizen()


class CaseBatch(_Wire):
    """Several cases in one request: accepted in one transaction, all or none."""

    cases: Annotated[list[CaseIn], Field(min_length=1, max_length=100)]


class AcceptedCase(BaseModel):
    """One case of a batch: its hub id, and whether this request created it."""

    reference: str
    id: str
    created: bool


class BatchAccepted(BaseModel):
    """The outcome of a batch, in the order the cases were sent."""

    cases: list[AcceptedCase]


class HandoffSummary(BaseModel):
    """A handoff as the national system sees it inside a case."""

    id: str
    agency: str
    state: str
    overdue: bool
    followup: str | None
    attempts: int
    agency_reference: str | None
    created_at: datetime
    updated_at: datetime


class CaseOut(BaseModel):
    """A case read back: the submitted fields plus the hub's state and handoffs."""

    id: str
    reference: str
    state: CaseState
    case: CaseIn
    handoffs: list[HandoffSummary]
    created_at: datetime
    updated_at: datetime
