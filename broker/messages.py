"""Agency messages, checked against the handoff's state, de-duplicated and applied once.

Whatever the transport (an adapter, the agency API, a phone call recorded by the central office),
a message takes the same path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, insert, select

from broker import deadlines, events, metrics
from broker.config import Directory
from broker.errors import NotFound, Unprocessable
from broker.ids import new_id
from broker.intake import create_handoff
from broker.lifecycle import next_handoff_state
from broker.store.cases import move_case
from broker.store.engine import now, transaction
from broker.store.handoffs import update_handoff
from broker.store.tables import agency_messages, cases, handoffs
from schemas import AgencyMessage, HandoffState, MessageKind

log = structlog.get_logger(__name__)

# handoffs that no longer count when asking whether every agency has answered
_OUT_OF_PLAY = {HandoffState.transferred.value, HandoffState.cancelled.value, HandoffState.failed.value}


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording a message: its id, the handoff's state, and if it was a repeat."""

    message_id: str
    handoff_state: str
    duplicate: bool


def dedup_key(message: AgencyMessage, idempotency_key: str | None) -> str:
    """The caller's Idempotency-Key, or a digest of what the message says (so a re-post is one)."""
    if idempotency_key:
        return f"key:{idempotency_key}"
    digest = hashlib.sha256(f"{message.kind}\0{message.agency_reference}\0{message.text}".encode()).hexdigest()
    return f"sha:{digest[:40]}"


def record_message(
    engine: Engine,
    directory: Directory,
    handoff_id: str,
    message: AgencyMessage,
    *,
    source: str,
    actor: str,
    agency_id: str | None = None,
    idempotency_key: str | None = None,
) -> Recorded:
    """Apply one agency message.

    With `agency_id`, a handoff of another agency is NotFound; an illegal move is
    InvalidTransition; a repeat returns the first recording and changes nothing.
    """
    if message.transfer_to is not None and message.transfer_to not in directory.agencies:
        raise Unprocessable(f"unknown agency '{message.transfer_to}'", field="transfer_to")
    key = dedup_key(message, idempotency_key)
    with transaction(engine) as conn:
        h = _load(conn, handoff_id, agency_id)
        seen = conn.execute(
            select(agency_messages.c.id).where(
                agency_messages.c.handoff_id == handoff_id, agency_messages.c.dedup_key == key
            )
        ).first()
        if seen is not None:
            return Recorded(seen.id, h["state"], duplicate=True)
        state = next_handoff_state(h["state"], message.kind.value).value
        message_id = new_id("m")
        at = now()
        conn.execute(
            insert(agency_messages).values(
                id=message_id,
                handoff_id=handoff_id,
                kind=message.kind.value,
                text=message.text,
                agency_reference=message.agency_reference,
                sent_at=message.sent_at,
                source=source,
                actor=actor,
                dedup_key=key,
                data=message.model_dump(mode="json", exclude={"handoff"}),
                created_at=at,
            )
        )
        values: dict[str, Any] = {"state": state}
        if message.agency_reference:
            values["agency_reference"] = message.agency_reference
        values.update(_followup(h, message, state))
        values.update(deadlines.on_message(conn, directory.sla, h, message.kind, state, actor))
        update_handoff(conn, handoff_id, values)
        events.append(
            conn,
            type=f"message.{message.kind.value}",
            case_id=h["case_id"],
            handoff_id=handoff_id,
            actor=actor,
            agency=h["agency_id"],
            source=source,
            text=message.text,
            agency_reference=message.agency_reference,
            handoff_state=state,
        )
        _consequences(conn, directory, h, message, actor)
    log.info("message.recorded", handoff=handoff_id, case=h["case_id"], kind=message.kind.value, source=source)
    metrics.message_recorded(source, message.kind.value)
    return Recorded(message_id, state, duplicate=False)


def _load(conn: Connection, handoff_id: str, agency_id: str | None) -> dict[str, Any]:
    # FOR UPDATE: concurrent messages on one handoff take turns, so the second sees the first's
    # state and dedup row (on PostgreSQL a duplicate raced into the unique constraint: a 500).
    row = conn.execute(select(handoffs).where(handoffs.c.id == handoff_id).with_for_update()).first()
    if row is None or (agency_id is not None and row.agency_id != agency_id):
        raise NotFound(f"no handoff '{handoff_id}'")  # another agency's handoff is not even named
    return dict(row._mapping)


def _followup(h: dict[str, Any], message: AgencyMessage, state: str) -> dict[str, Any]:
    """Whether the handoff stays on the follow-up queue, and why."""
    kind = message.kind
    at = now()
    if kind is MessageKind.rejected:
        return {"followup": f"rejected by the agency: {message.text[:300]}", "followup_since": at}
    if kind is MessageKind.transfer_requested and message.transfer_to is None:
        return {"followup": f"transfer requested; choose the agency: {message.text[:300]}", "followup_since": at}
    if state in (HandoffState.answered, HandoffState.transferred):
        return {"followup": None, "followup_since": None}
    if h["followup"] is not None and h["adapter"] == "manual":
        return {"followup": f"manual: {kind.value} recorded; chase the answer"}
    if h["state"] == HandoffState.failed:
        return {"followup": None, "followup_since": None}
    return {}


def _consequences(
    conn: Connection, directory: Directory, h: dict[str, Any], message: AgencyMessage, actor: str
) -> None:
    """What a message means for the case beyond its handoff."""
    if message.kind is MessageKind.answered:
        # Lock the case first: two agencies answering at once then see each other's answer.
        conn.execute(select(cases.c.id).where(cases.c.id == h["case_id"]).with_for_update())
        others = conn.execute(
            select(handoffs.c.state).where(handoffs.c.case_id == h["case_id"], handoffs.c.id != h["id"])
        ).scalars()
        if all(s in _OUT_OF_PLAY or s in (HandoffState.answered, HandoffState.accepted) for s in others):
            state = move_case(conn, h["case_id"], "answer")
            events.append(conn, type="case.answered", case_id=h["case_id"], actor=actor, case_state=state)
    elif message.kind is MessageKind.transfer_requested and message.transfer_to is not None:
        new = create_handoff(conn, directory, h["case_id"], message.transfer_to, transferred_from=h["id"])
        events.append(
            conn,
            type="case.transferred",
            case_id=h["case_id"],
            handoff_id=new["id"],
            actor=actor,
            from_agency=h["agency_id"],
            to_agency=message.transfer_to,
            from_handoff=h["id"],
            **deadlines.announce(directory.sla, new),
        )
