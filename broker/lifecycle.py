"""Every legal move of a case and a handoff, the state sets derived from them, and the case's rule.

Anything not in a table is InvalidTransition. An agency's own system (its API calls, its adapter's
polls and mail) may take only the moves in AGENCY_MOVES: only the central office re-opens a
failed handoff, transfers a case, or records what an agency said by phone about one.
"""

from __future__ import annotations

from collections.abc import Iterable

from broker.errors import InvalidTransition
from schemas import OPEN_STATES, CaseState, HandoffState

H = HandoffState
C = CaseState

_MESSAGES = ("acknowledged", "progress", "needs_info", "answered", "rejected", "transfer_requested")

HANDOFF_MOVES: dict[tuple[HandoffState, str], HandoffState] = {
    # delivery, driven by the dispatcher
    (H.pending, "start_delivery"): H.delivering,
    (H.delivering, "start_delivery"): H.delivering,  # a lease ran out and the work was picked up again
    # a receipt: the agency has the case (a late one beats a retry or a failure the hub decided)
    **{(s, "receipt"): H.delivered for s in (H.pending, H.delivering, H.outcome_unknown, H.failed)},
    (H.delivering, "retry"): H.pending,
    (H.delivering, "fail"): H.failed,
    (H.delivering, "uncertain"): H.outcome_unknown,
    (H.pending, "fail"): H.failed,
    (H.delivered, "bounced"): H.failed,  # the agency's mail server sent it back
    # the central office settles an uncertain delivery, or sends a failed one again
    (H.outcome_unknown, "confirm"): H.delivered,
    (H.outcome_unknown, "resend"): H.pending,
    (H.failed, "resend"): H.pending,
    # onboarding (broker.onboarding): a manual agency's open handoff goes out again through its new adapter
    **{(s, "redispatch"): H.pending for s in (H.pending, H.delivered, H.acknowledged)},
    # agency messages (an adapter, the agency API, or the central office recording a call)
    (H.delivering, "acknowledged"): H.acknowledged,  # from inside its answer to our push
    **{(s, "acknowledged"): H.acknowledged for s in (H.delivered, H.acknowledged, H.outcome_unknown, H.failed)},
    **{(s, "progress"): s for s in (H.delivered, H.acknowledged)},
    (H.outcome_unknown, "progress"): H.acknowledged,
    **{(s, "needs_info"): s for s in (H.delivered, H.acknowledged)},
    (H.outcome_unknown, "needs_info"): H.acknowledged,
    **{(s, "answered"): H.answered for s in (H.delivered, H.acknowledged, H.outcome_unknown, H.failed, H.answered)},
    **{(s, "rejected"): H.failed for s in (H.delivered, H.acknowledged, H.outcome_unknown)},
    # "not ours": the handoff stays as it is until the central office (or a partner rule) transfers it
    **{(s, "transfer_requested"): s for s in (H.delivered, H.acknowledged, H.failed)},
    (H.outcome_unknown, "transfer_requested"): H.acknowledged,
    # the central office's decisions
    **{(s, "transfer"): H.transferred for s in OPEN_STATES},
    **{(s, "cancel"): H.cancelled for s in OPEN_STATES},
    (H.answered, "accept"): H.accepted,
    (H.answered, "return"): H.acknowledged,
}

AGENCY_MOVES = frozenset(
    (state, action)
    for state, action in HANDOFF_MOVES
    if action in _MESSAGES and state is not H.failed and (state, action) != (H.answered, "rejected")
)
"""What an agency's own system may do: speak about a handoff it holds, never re-open a failed one."""

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

# --- state sets, derived once here -------------------------------------------------------------

OPEN = frozenset(s.value for s in OPEN_STATES)
"""Handoff states whose clocks run (the sweep looks at nothing else)."""
CLOCKS_STOPPED = frozenset(s.value for s in (H.answered, H.accepted, H.transferred, H.cancelled))
"""States in which the agency's answer clock no longer runs."""
OUT_OF_PLAY = frozenset(s.value for s in (H.transferred, H.cancelled, H.failed))
"""Handoffs that no longer count when asking whether every agency has answered."""
SETTLED = frozenset(s.value for s in (H.accepted, H.transferred, H.cancelled, H.failed))
"""Handoffs whose part of the case is done (the case is replied once all are)."""
WITH_AGENCY = frozenset(s.value for s in (H.outcome_unknown, H.delivered, H.acknowledged, H.answered))
"""Handed over and still the agency's to act on (an answer may be amended until accepted): what the
agency lists, and the only states in which it sees the citizen's details."""
POLLED = frozenset(s.value for s in (H.delivered, H.acknowledged))
"""Handoffs the agency holds and has not answered yet: polled for news."""
NOT_ANSWERABLE = frozenset(s.value for s in (H.transferred, H.cancelled))
"""Handoffs never counted for "answered on time"."""


def next_handoff_state(state: str, action: str, *, by_agency: bool = False) -> HandoffState:
    """The state a handoff moves to, or InvalidTransition naming where it is.

    `by_agency`: the move comes from the agency's own system, which may do less than the central office.
    """
    key = (HandoffState(state), action)
    if key not in HANDOFF_MOVES or (by_agency and key not in AGENCY_MOVES):
        raise InvalidTransition("handoff", state, action)
    return HANDOFF_MOVES[key]


def next_case_state(state: str, action: str) -> CaseState:
    """The state a case moves to, or InvalidTransition naming where it is."""
    try:
        return CASE_MOVES[(CaseState(state), action)]
    except KeyError:
        raise InvalidTransition("case", state, action) from None


def allows(state: str, action: str, *, by_agency: bool = False) -> bool:
    """Whether a handoff in `state` may take `action` (for listing what can be recorded)."""
    try:
        next_handoff_state(state, action, by_agency=by_agency)
    except InvalidTransition:
        return False
    return True


def all_answered(states: Iterable[str]) -> bool:
    """The case rule: every handoff still in play has answered (or had its answer accepted)."""
    return all(s in OUT_OF_PLAY or s in (H.answered.value, H.accepted.value) for s in states)


def all_settled(states: Iterable[str]) -> bool:
    """Every handoff's part of the case is done: the case can be replied."""
    return all(s in SETTLED for s in states)
