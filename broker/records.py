"""Small writes shared by the core modules: moving a handoff or a case along the lifecycle."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from broker.db import now
from broker.lifecycle import next_case_state
from broker.models import cases, handoffs


def update_handoff(conn: Connection, handoff_id: str, values: dict[str, Any]) -> None:
    """Write these columns of one handoff and stamp it updated."""
    conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(**values, updated_at=now()))


def update_handoffs(conn: Connection, changes: dict[str, dict[str, Any]]) -> None:
    """`update_handoff` for many handoffs: one batched statement per set of columns written."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for handoff_id, values in changes.items():
        shapes[tuple(sorted(values))].append({"_id": handoff_id, **{f"_{k}": v for k, v in values.items()}})
    at = now()
    for columns, rows in shapes.items():
        written: dict[str, Any] = {column: bindparam(f"_{column}") for column in columns}
        conn.execute(update(handoffs).where(handoffs.c.id == bindparam("_id")).values(**written, updated_at=at), rows)


def move_case(conn: Connection, case_id: str, action: str) -> str:
    """Move a case by `action` (InvalidTransition if its state forbids it); returns the new state."""
    return move_cases(conn, [case_id], action)[case_id]


def move_cases(conn: Connection, case_ids: list[str], action: str) -> dict[str, str]:
    """Move each case by `action`, once per occurrence in `case_ids`; returns every case's new state."""
    before = dict(conn.execute(select(cases.c.id, cases.c.state).where(cases.c.id.in_(set(case_ids)))).all())
    after = dict(before)
    for case_id in case_ids:
        after[case_id] = next_case_state(after[case_id], action).value
    moved = [{"_id": case_id, "_state": state} for case_id, state in after.items() if state != before[case_id]]
    if moved:
        conn.execute(
            update(cases).where(cases.c.id == bindparam("_id")).values(state=bindparam("_state"), updated_at=now()),
            moved,
        )
    return after
