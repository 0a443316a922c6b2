"""Moving a case away from an agency: a transfer to another agency, or withdrawing the handoff.

An agency's "not ours" is a request; the central office approves it (the case gets a new handoff
at the other agency, the first one is told) or refuses it (the agency is told it stays theirs).
Partners configured in agencies.yaml transfer on their own word.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine, select

from broker import deadlines, events, follow_ons, followup
from broker.assign import create_handoff
from broker.config import Directory
from broker.errors import Unprocessable
from broker.lifecycle import OPEN, next_handoff_state
from broker.store.engine import transaction
from broker.store.handoffs import Handoff, load, update_handoff
from broker.store.tables import handoffs
from schemas import FollowOnKind, FollowupReason, HandoffState

_NEVER_SEEN = (HandoffState.pending.value, HandoffState.delivering.value)
"""States in which the agency never got the case: nothing to tell it."""


def transfer(conn: Connection, directory: Directory, h: Handoff, to_agency: str, *, actor: str) -> dict[str, Any]:
    """Move the case from `h`'s agency to `to_agency` in the caller's transaction; returns the new handoff."""
    if to_agency not in directory.agencies:
        raise Unprocessable(f"unknown agency '{to_agency}'", field="transfer_to")
    if to_agency == h.agency_id:
        raise Unprocessable("the case is already with this agency", field="transfer_to")
    open_there = conn.execute(
        select(handoffs.c.id).where(
            handoffs.c.case_id == h.case_id, handoffs.c.agency_id == to_agency, handoffs.c.state.in_(OPEN)
        )
    ).first()
    if open_there is not None:
        raise Unprocessable(f"{to_agency} already holds this case ({open_there.id})", field="transfer_to")
    state = next_handoff_state(h.state, "transfer").value
    values: dict[str, Any] = {"state": state, "transfer_request": None, "next_check_at": None}
    values["deadline_version"] = h.deadline_version + 1
    values.update(followup.cleared(conn, h, *followup.ALL, state=state))
    update_handoff(conn, h.id, values, expect=h.state)
    new = create_handoff(conn, directory, h.case_id, to_agency, transferred_from=h.id)
    events.append(
        conn,
        type="case.transferred",
        case_id=h.case_id,
        handoff_id=new["id"],
        actor=actor,
        from_agency=h.agency_id,
        to_agency=to_agency,
        from_handoff=h.id,
        **deadlines.announce(directory.sla, new["ack_due_at"], new["answer_due_at"], new["answer_allowed"]),
    )
    if h.state not in _NEVER_SEEN:
        target = directory.agency(to_agency)
        follow_ons.create(
            conn,
            directory,
            replace(h, state=state),
            FollowOnKind.transferred_away,
            text_ar=f"أحيلت الحالة إلى {target.name_ar}؛ لا يلزمكم اتخاذ إجراء.",
            text_en=f"The case now goes to {target.name_en}; no action is needed from you.",
            transfer_to=to_agency,
            actor=actor,
        )
    return new


def decide(
    engine: Engine,
    directory: Directory,
    handoff_id: str,
    *,
    approve: bool,
    actor: str,
    to_agency: str | None = None,
    reason: str = "",
) -> dict[str, Any] | None:
    """The central office's decision on a transfer request; returns the new handoff when approved."""
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        requested = (h.transfer_request or {}).get("to")
        if approve:
            target = to_agency or requested
            if target is None:
                raise Unprocessable("name the agency the case goes to", field="to")
            return transfer(conn, directory, h, target, actor=actor)
        if h.transfer_request is None and h.followup_reason not in (
            FollowupReason.transfer_requested,
            FollowupReason.transfer_needs_agency,
        ):
            raise Unprocessable("no transfer request waits on this handoff", field="handoff")
        values: dict[str, Any] = {"transfer_request": None}
        values.update(
            followup.cleared(conn, h, FollowupReason.transfer_requested, FollowupReason.transfer_needs_agency)
        )
        update_handoff(conn, h.id, values, expect=h.state)
        events.append(
            conn, type="handoff.transfer_refused", case_id=h.case_id, handoff_id=h.id, actor=actor, reason=reason
        )
        follow_ons.create(
            conn,
            directory,
            h,
            FollowOnKind.transfer_refused,
            text=reason,
            text_ar="لم يُوافَق على طلب التحويل؛ الحالة باقية لديكم.",
            text_en="The transfer was not approved; the case stays with you.",
            actor=actor,
        )
        return None


def cancel(engine: Engine, directory: Directory, handoff_id: str, *, reason: str, actor: str) -> None:
    """Withdraw a handoff; an agency that has the case is told."""
    if not reason.strip():
        raise Unprocessable("say why the handoff is withdrawn", field="reason")
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        state = next_handoff_state(h.state, "cancel").value
        values: dict[str, Any] = {"state": state, "next_check_at": None, "deadline_version": h.deadline_version + 1}
        values.update(followup.cleared(conn, h, *followup.ALL, state=state))
        update_handoff(conn, h.id, values, expect=h.state)
        events.append(conn, type="handoff.cancelled", case_id=h.case_id, handoff_id=h.id, actor=actor, reason=reason)
        if h.state not in _NEVER_SEEN:
            follow_ons.create(
                conn,
                directory,
                replace(h, state=state),
                FollowOnKind.cancelled,
                text=reason,
                text_ar="سُحبت هذه الحالة منكم؛ لا يلزم اتخاذ إجراء.",
                text_en="This case was withdrawn from you; no action is needed.",
                actor=actor,
            )
