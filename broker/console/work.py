"""The console's own small pieces of the core: who follows up a handoff, and the working time left."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, Engine, delete, insert, select

from broker import events
from broker.console.accounts import StaffUser, list_users
from broker.console.permissions import Permission, allowed
from broker.errors import Unprocessable
from broker.sla import SlaPolicy
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff, load
from broker.store.tables import assignments


def assign(engine: Engine, handoff_id: str, username: str, *, actor: str) -> None:
    """Give a handoff to an officer (an empty name takes it back); in the case's audit trail."""
    with transaction(engine) as conn:
        h = load(conn, handoff_id, lock=True)
        if username and username not in {u.username for u in officers(conn)}:
            raise Unprocessable(f"'{username}' is not an active officer", field="username")
        conn.execute(delete(assignments).where(assignments.c.handoff_id == handoff_id))
        if username:
            conn.execute(
                insert(assignments).values(
                    handoff_id=handoff_id, username=username, assigned_by=actor, created_at=now()
                )
            )
        events.append(
            conn, type="handoff.assigned", case_id=h.case_id, handoff_id=handoff_id, actor=actor, officer=username
        )


def assigned_to(conn: Connection, handoff_id: str) -> str | None:
    """The officer following up a handoff, if any."""
    found = conn.execute(select(assignments.c.username).where(assignments.c.handoff_id == handoff_id)).scalar()
    return str(found) if found else None


def officers(conn: Connection) -> list[StaffUser]:
    """Active accounts that may follow up handoffs."""
    return [u for u in list_users(conn) if not u.disabled and allowed(u.role, Permission.follow_up)]


def working_left(policy: SlaPolicy, h: Handoff) -> timedelta | None:
    """Working time left to answer (negative once overdue); what was left when the clock paused."""
    if h.answer_due_at is None:
        return None
    if h.paused_at is not None:
        return timedelta(seconds=h.remaining or 0.0)
    return policy.calendar.working_between(now(), h.answer_due_at)
