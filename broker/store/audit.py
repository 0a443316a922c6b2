"""The staff audit trail: who did what to which account, agency or recurring group, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert

from broker.store.engine import now
from broker.store.tables import staff_audit


def audit(conn: Connection, actor: str, action: str, target: str | None = None, **data: Any) -> None:
    """One line of the staff audit trail, in the caller's transaction (so it exists only if the change does)."""
    conn.execute(insert(staff_audit).values(actor=actor, action=action, target=target, data=data, created_at=now()))
