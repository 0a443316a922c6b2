"""Writes to handoff rows shared by the core modules."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, bindparam, update

from broker.store.engine import now
from broker.store.tables import handoffs


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
