"""Pydantic models shared by the hub, its adapters and integrators; imports nothing of ours."""

from schemas.agency import AdapterConfig, AgencyConfig, CategoryRoute, Contact, HubConfig, OnboardingStatus
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
)
from schemas.envelope import Envelope, Receipt
from schemas.event import Event, EventPage
from schemas.handoff import OPEN_STATES, HandoffState
from schemas.message import AgencyMessage, MessageKind
from schemas.sla import CitizenInfo, Reminder, ReminderKind, SlaConfig, WorkingDuration

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
    "CitizenInfo",
    "Contact",
    "Envelope",
    "Event",
    "EventPage",
    "HandoffState",
    "HandoffSummary",
    "HubConfig",
    "Location",
    "MessageKind",
    "OnboardingStatus",
    "Receipt",
    "Reminder",
    "ReminderKind",
    "SlaConfig",
    "WorkingDuration",
]
