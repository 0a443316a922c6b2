"""Every legal move of a case and a handoff, in one table each; anything else is InvalidTransition."""

from __future__ import annotations

from broker.errors import InvalidTransition
from schemas import CaseState, HandoffState

H = HandoffState
C = CaseState

HANDOFF_MOVES: dict[tuple[HandoffState, str], HandoffState] = {
    # delivery, driven by the dispatcher
    (H.pending, "start_delivery"): H.delivering,
    (H.delivering, "start_delivery"): H.delivering,  # a lease ran out and the work was picked up again
    (H.delivering, "delivered"): H.delivered,
    (H.delivering, "retry"): H.pending,
    (H.delivering, "fail"): H.failed,
    # an agency may acknowledge from inside its answer to our push, before that delivery settles
    (H.delivering, "acknowledged"): H.acknowledged,
    (H.pending, "fail"): H.failed,
    (H.failed, "redeliver"): H.pending,
    # agency messages (from an adapter, the agency API or the central office recording a call)
    (H.delivered, "acknowledged"): H.acknowledged,
    (H.delivered, "progress"): H.delivered,
    (H.delivered, "needs_info"): H.delivered,
    (H.delivered, "answered"): H.answered,
    (H.delivered, "transfer_requested"): H.transferred,
    (H.delivered, "rejected"): H.failed,
    (H.acknowledged, "acknowledged"): H.acknowledged,
    (H.acknowledged, "progress"): H.acknowledged,
    (H.acknowledged, "needs_info"): H.acknowledged,
    (H.acknowledged, "answered"): H.answered,
    (H.acknowledged, "transfer_requested"): H.transferred,
    (H.acknowledged, "rejected"): H.failed,
    # a failed handoff is chased by hand: what the agency says by phone is recorded against it
    (H.failed, "acknowledged"): H.acknowledged,
    (H.failed, "answered"): H.answered,
    (H.failed, "transfer_requested"): H.transferred,
    (H.answered, "answered"): H.answered,  # the agency amends its answer before review
    # central-office review of the answer
    (H.answered, "accept"): H.accepted,
    (H.answered, "return"): H.acknowledged,
    # the central office withdraws a handoff
    (H.pending, "cancel"): H.cancelled,
    (H.delivered, "cancel"): H.cancelled,
    (H.acknowledged, "cancel"): H.cancelled,
    (H.failed, "cancel"): H.cancelled,
}

CASE_MOVES: dict[tuple[CaseState, str], CaseState] = {
    (C.received, "route"): C.routed,
    (C.routed, "deliver"): C.with_agency,
    (C.with_agency, "deliver"): C.with_agency,
    (C.with_agency, "answer"): C.answered,
    (C.routed, "answer"): C.answered,  # a manual agency answered by phone before delivery settled
    (C.answered, "answer"): C.answered,
    (C.answered, "review"): C.in_review,
    (C.in_review, "accept"): C.replied,
    (C.in_review, "return"): C.returned,
    (C.returned, "deliver"): C.with_agency,
    (C.returned, "answer"): C.answered,
    (C.replied, "close"): C.closed,
    (C.answered, "deliver"): C.answered,
    (C.in_review, "deliver"): C.in_review,
}


def next_handoff_state(state: str, action: str) -> HandoffState:
    """The state a handoff moves to, or InvalidTransition naming where it is."""
    try:
        return HANDOFF_MOVES[(HandoffState(state), action)]
    except KeyError:
        raise InvalidTransition("handoff", state, action) from None


def next_case_state(state: str, action: str) -> CaseState:
    """The state a case moves to, or InvalidTransition naming where it is."""
    try:
        return CASE_MOVES[(CaseState(state), action)]
    except KeyError:
        raise InvalidTransition("case", state, action) from None


def allows(state: str, action: str) -> bool:
    """Whether a handoff in `state` may take `action` (for listing what can be recorded)."""
    return (HandoffState(state), action) in HANDOFF_MOVES
