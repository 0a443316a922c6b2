"""Giving a case to an agency: a new handoff with its deadlines and its delivery work.

Used at intake (routing gives the agencies) and when the central office transfers a case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from broker import deadlines, outbox
from broker.config import Directory
from broker.ids import new_id
from broker.outbox import DELIVER
from broker.store.engine import now
from broker.store.tables import cases, handoffs
from schemas import HandoffState


def handoff_row(
    directory: Directory,
    case_id: str,
    agency_id: str,
    at: datetime,
    kind: str,
    category: str,
    transferred_from: str | None = None,
) -> dict[str, Any]:
    """The columns of a new pending handoff (its clocks start when the hub takes the case)."""
    return {
        "id": new_id("h"),
        "case_id": case_id,
        "agency_id": agency_id,
        "adapter": directory.agency(agency_id).adapter.kind,
        "manual": directory.adapter(agency_id).capabilities.manual,
        "state": HandoffState.pending.value,
        "overdue": False,
        "round": 1,
        "uncertain": False,
        "attempts": 0,
        "transferred_from": transferred_from,
        "created_at": at,
        "updated_at": at,
        **deadlines.initial(directory.sla, kind, category, agency_id, at),
    }


def create_handoff(
    conn: Connection, directory: Directory, case_id: str, agency_id: str, *, transferred_from: str | None = None
) -> dict[str, Any]:
    """A new pending handoff for an existing case, with its delivery work queued."""
    case = conn.execute(select(cases.c.kind, cases.c.category).where(cases.c.id == case_id)).one()
    row = handoff_row(directory, case_id, agency_id, now(), case.kind, case.category, transferred_from)
    conn.execute(insert(handoffs), row)
    outbox.enqueue(conn, [(DELIVER, row["id"], agency_id)])
    return row
