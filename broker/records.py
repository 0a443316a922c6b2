"""Small writes shared by the core modules: moving a handoff or a case along the lifecycle."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from broker.db import now
from broker.lifecycle import next_case_state
from broker.models import cases, handoffs


def update_handoff(conn: Connection, handoff_id: str, values: dict[str, Any]) -> None:
    """Write these columns of one handoff and stamp it updated."""
    conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(**values, updated_at=now()))


def move_case(conn: Connection, case_id: str, action: str) -> str:
    """Move a case by `action` (InvalidTransition if its state forbids it); returns the new state."""
    state = conn.execute(select(cases.c.state).where(cases.c.id == case_id)).scalar_one()
    target = next_case_state(state, action)
    if target != state:
        conn.execute(update(cases).where(cases.c.id == case_id).values(state=target.value, updated_at=now()))
    return target.value
