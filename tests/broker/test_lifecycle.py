"""The transition tables: every legal move is listed, anything else is a clear error."""

from __future__ import annotations

import pytest

from broker.errors import InvalidTransition
from broker.lifecycle import HANDOFF_MOVES, next_case_state, next_handoff_state
from schemas import HandoffState, MessageKind

MOVES = [
    ("pending", "start_delivery", "delivering"),
    ("delivering", "receipt", "delivered"),
    ("failed", "receipt", "delivered"),  # a late success beats a failure the hub decided
    ("delivering", "uncertain", "outcome_unknown"),
    ("outcome_unknown", "confirm", "delivered"),
    ("outcome_unknown", "resend", "pending"),
    ("delivering", "retry", "pending"),
    ("delivered", "acknowledged", "acknowledged"),
    ("acknowledged", "answered", "answered"),
    ("answered", "accept", "accepted"),
    ("delivered", "transfer_requested", "delivered"),  # a request: the central office decides
    ("acknowledged", "transfer", "transferred"),
    ("failed", "answered", "answered"),
]


@pytest.mark.parametrize(("state", "action", "expected"), MOVES)
def test_a_legal_move_gives_the_next_state(state: str, action: str, expected: str) -> None:
    assert next_handoff_state(state, action) == expected


ILLEGAL = [
    ("pending", "answered"),  # an answer to a handoff never delivered
    ("accepted", "answered"),  # a second answer after acceptance
    ("transferred", "acknowledged"),
    ("cancelled", "start_delivery"),
]


AGENCY_MAY_NOT = [
    ("failed", "acknowledged"),  # M2: an agency cannot re-open a handoff it rejected
    ("failed", "answered"),
    ("failed", "transfer_requested"),
    ("delivered", "transfer"),  # only the central office transfers
    ("answered", "accept"),
]


@pytest.mark.parametrize(("state", "action"), AGENCY_MAY_NOT)
def test_an_agency_cannot_do_what_only_the_central_office_may(state: str, action: str) -> None:
    """M2: the agency's own system may take fewer moves than the central office recording a call."""
    with pytest.raises(InvalidTransition):
        next_handoff_state(state, action, by_agency=True)


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_an_illegal_move_names_the_state_and_the_action(state: str, action: str) -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_handoff_state(state, action)
    assert caught.value.state == state
    assert state in str(caught.value) and action in str(caught.value)


def test_every_agency_message_kind_is_accepted_by_a_delivered_handoff() -> None:
    for kind in MessageKind:
        assert (HandoffState.delivered, kind.value) in HANDOFF_MOVES


def test_a_closed_case_cannot_be_answered_again() -> None:
    with pytest.raises(InvalidTransition):
        next_case_state("closed", "answer")
