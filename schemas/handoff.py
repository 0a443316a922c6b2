"""Handoff states (one case sent to one agency) and why a handoff waits on the central office."""

from __future__ import annotations

from enum import StrEnum


class HandoffState(StrEnum):
    """Where a handoff is; the legal moves are in broker.lifecycle."""

    pending = "pending"
    delivering = "delivering"
    outcome_unknown = "outcome_unknown"
    """A delivery may or may not have reached the agency: an officer checks before anything is sent again."""
    delivered = "delivered"
    acknowledged = "acknowledged"
    answered = "answered"
    accepted = "accepted"
    failed = "failed"
    transferred = "transferred"
    cancelled = "cancelled"


OPEN_STATES = frozenset(
    {
        HandoffState.pending,
        HandoffState.delivering,
        HandoffState.outcome_unknown,
        HandoffState.delivered,
        HandoffState.acknowledged,
        HandoffState.failed,
    }
)
"""States in which a handoff still waits on someone: its clocks run."""


class FollowupReason(StrEnum):
    """Why a handoff is on the central office's follow-up queue, most urgent first."""

    escalated = "escalated"
    """Overdue long enough to be escalated (the level says to whom)."""
    overdue = "overdue"
    """The answer time has run out."""
    delivery_failed = "delivery_failed"
    """The hub gave up delivering (refused, bounced, or too many attempts)."""
    outcome_unknown = "outcome_unknown"
    """A delivery may have reached the agency: check with it before sending again."""
    rejected = "rejected"
    """The agency refused the case."""
    transfer_requested = "transfer_requested"
    """The agency says the case is not theirs and names another: the central office decides."""
    transfer_needs_agency = "transfer_needs_agency"
    """The agency says the case is not theirs without saying whose."""
    circuit_open = "circuit_open"
    """The agency's system keeps failing: deliveries are parked until it answers again."""
    follow_on = "follow_on"
    """A follow-on message (the citizen's reply, a returned answer, a cancellation…) must be passed on by hand."""
    manual = "manual"
    """The agency is not connected yet: the central office phones or writes."""

    @property
    def rank(self) -> int:
        """0 for the most urgent reason; a handoff shows its most urgent one."""
        return list(FollowupReason).index(self)
