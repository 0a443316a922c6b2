"""An officer settles a delivery the hub could not: confirm an uncertain one, or send it again.

"Outcome unknown" means the agency may have the case; only an officer who asked the agency can
say "delivered, their reference X" or "not received, send it again". A failed delivery can be
sent again too, once its cause is fixed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from broker import events, followup, outbox
from broker.errors import Unprocessable
from broker.lifecycle import next_handoff_state
from broker.outbox import DELIVER
from broker.store.cases import move_case
from broker.store.engine import transaction
from broker.store.handoffs import load, update_handoff
from schemas import FollowupReason

_DELIVERY = (FollowupReason.outcome_unknown, FollowupReason.delivery_failed, FollowupReason.circuit_open)


def confirm(engine: Engine, handoff_id: str, agency_reference: str, *, actor: str) -> None:
    """The agency has the case under `agency_reference`: it counts as delivered."""
    if not agency_reference.strip():
        raise Unprocessable("give the agency's own reference for the case", field="reference")
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        state = next_handoff_state(h.state, "confirm").value
        values: dict[str, Any] = {"state": state, "agency_reference": agency_reference.strip(), "uncertain": False}
        values.update(followup.cleared(conn, h, *_DELIVERY, state=state))
        update_handoff(conn, h.id, values, expect=h.state)
        move_case(conn, h.case_id, "deliver")
        events.append(
            conn,
            type="handoff.delivered",
            case_id=h.case_id,
            handoff_id=h.id,
            actor=actor,
            agency=h.agency_id,
            agency_reference=agency_reference.strip(),
            confirmed_by_officer=True,
        )


def resend(engine: Engine, handoff_id: str, *, actor: str) -> None:
    """Send the case again: the officer checked that the agency does not have it (or fixed why it failed)."""
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        state = next_handoff_state(h.state, "resend").value
        values: dict[str, Any] = {"state": state, "uncertain": False, "attempts": 0, "last_error": None}
        values.update(followup.cleared(conn, h, *_DELIVERY, FollowupReason.rejected, state=state))
        update_handoff(conn, h.id, values, expect=h.state)
        outbox.enqueue(conn, [(DELIVER, h.id, h.agency_id)])
        events.append(conn, type="handoff.resent", case_id=h.case_id, handoff_id=h.id, actor=actor, agency=h.agency_id)
