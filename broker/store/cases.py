"""Case rows: reading them back as the national system sees them, and moving them along the lifecycle."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, or_, select, update

from broker.errors import NotFound
from broker.lifecycle import next_case_state
from broker.store.engine import now
from broker.store.lists import one_of
from broker.store.tables import cases, handoffs
from schemas import CaseIn, CaseOut, HandoffSummary


@dataclass(frozen=True)
class CaseGlance:
    """What an answer needs of its case, read under the case's lock: its state, kind and category."""

    state: str
    kind: str
    category: str


def find_case_id(conn: Connection, id_or_reference: str) -> str:
    """A case's id from its hub id or its national reference."""
    row = conn.execute(
        select(cases.c.id).where(or_(cases.c.id == id_or_reference, cases.c.reference == id_or_reference))
    ).first()
    if row is None:
        raise NotFound(f"no case '{id_or_reference}'")
    return str(row.id)


def get_case(conn: Connection, id_or_reference: str) -> CaseOut:
    """A case with its handoffs and their states."""
    case_id = find_case_id(conn, id_or_reference)
    c = conn.execute(select(cases).where(cases.c.id == case_id)).one()
    rows = conn.execute(select(handoffs).where(handoffs.c.case_id == case_id).order_by(handoffs.c.id)).all()
    return CaseOut(
        id=c.id,
        reference=c.reference,
        state=c.state,
        case=CaseIn.model_validate(c.payload),
        handoffs=[
            HandoffSummary(
                id=h.id,
                agency=h.agency_id,
                state=h.state,
                overdue=h.overdue,
                followup=h.followup,
                attempts=h.attempts,
                agency_reference=h.agency_reference,
                created_at=h.created_at,
                updated_at=h.updated_at,
            )
            for h in rows
        ],
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def move_case(conn: Connection, case_id: str, action: str, *, state: str | None = None) -> str:
    """Move a case by `action` (InvalidTransition if its state forbids it); returns the new state.

    `state`: the case's state as the caller read it under the case's lock (not read again).
    """
    return move_cases(conn, [case_id], action, states=None if state is None else {case_id: state})[case_id]


def move_cases(
    conn: Connection, case_ids: list[str], action: str, *, states: dict[str, str] | None = None
) -> dict[str, str]:
    """Move each case by `action`, once per occurrence in `case_ids`; returns every case's new state.

    `states`: the cases' states as the caller read them in this transaction (not read again).
    """
    if states is None:
        states = dict(conn.execute(_STATES, {"ids": list(set(case_ids))}).all())
    before = {case_id: states[case_id] for case_id in set(case_ids)}
    after = dict(before)
    for case_id in case_ids:
        after[case_id] = next_case_state(after[case_id], action).value
    at = now()
    moved = [{"_id": c, "_state": state, "_at": at} for c, state in after.items() if state != before[c]]
    if moved:
        conn.execute(_MOVE, moved)
    return after


# Built once: building a statement (and its cache key) per call cost more CPU than running it.
_STATES = select(cases.c.id, cases.c.state).where(one_of(cases.c.id, "ids"))
_MOVE = (
    update(cases).where(cases.c.id == bindparam("_id")).values(state=bindparam("_state"), updated_at=bindparam("_at"))
)
