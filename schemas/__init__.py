"""Pydantic models shared by the hub, its adapters and integrators; imports nothing of ours."""

from schemas.agency import (
    AdapterConfig,
    AgencyConfig,
    CategoryRoute,
    CitizenField,
    Contact,
    HubConfig,
    OnboardingStatus,
    SharePolicy,
)
from schemas.case import (
    AcceptedCase,
    Attachment,
    BatchAccepted,
    CaseBatch,
    CaseIn,
    CaseKind,
    CaseOut,
    CaseState,
    Citizen,
    HandoffSummary,
    Location,
    SharedCase,
    SharedCitizen,
)
from schemas.envelope import Envelope, FollowOnEnvelope, HandoffClocks, HistoryItem, Receipt
from schemas.event import Event, EventPage
from schemas.follow_on import FollowOn, FollowOnKind, ReminderDetail, ReminderKind, Satisfaction
from schemas.handoff import OPEN_STATES, FollowupReason, HandoffState
from schemas.inbound import Inbound, InboundFile, InboxBatch, Notice, PollItem, Unmatched
from schemas.message import AgencyMessage, MessageKind
from schemas.sla import CitizenInfo, SlaConfig, WorkingDuration

__all__ = [
    "OPEN_STATES",
    "AcceptedCase",
    "AdapterConfig",
    "AgencyConfig",
    "AgencyMessage",
    "Attachment",
    "BatchAccepted",
    "CaseBatch",
    "CaseIn",
    "CaseKind",
    "CaseOut",
    "CaseState",
    "CategoryRoute",
    "Citizen",
    "CitizenField",
    "CitizenInfo",
    "Contact",
    "Envelope",
    "Event",
    "EventPage",
    "FollowOn",
    "FollowOnEnvelope",
    "FollowOnKind",
    "FollowupReason",
    "HandoffClocks",
    "HandoffState",
    "HandoffSummary",
    "HistoryItem",
    "HubConfig",
    "Inbound",
    "InboundFile",
    "InboxBatch",
    "Location",
    "MessageKind",
    "Notice",
    "OnboardingStatus",
    "PollItem",
    "Receipt",
    "ReminderDetail",
    "ReminderKind",
    "Satisfaction",
    "SharePolicy",
    "SharedCase",
    "SharedCitizen",
    "SlaConfig",
    "Unmatched",
    "WorkingDuration",
]
