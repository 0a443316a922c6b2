"""Reading cases back, as the national system sees them."""

from __future__ import annotations

from sqlalchemy import Connection, or_, select

from broker.errors import NotFound
from broker.models import cases, handoffs
from schemas import CaseIn, CaseOut, HandoffSummary


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
