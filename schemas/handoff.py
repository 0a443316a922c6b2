"""Handoff states: one case sent to one agency."""

from __future__ import annotations

from enum import StrEnum


class HandoffState(StrEnum):
    """Where a handoff is; the legal moves are in broker.lifecycle."""

    pending = "pending"
    delivering = "delivering"
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
        HandoffState.delivered,
        HandoffState.acknowledged,
        HandoffState.failed,
    }
)
"""States in which a handoff still waits on someone (the follow-up queue reads these)."""
