"""The append-only event log: the audit trail and the national system's feed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from broker.store.engine import now
from broker.store.tables import cases, events
from schemas import Event


def append(
    conn: Connection, *, type: str, case_id: str, actor: str, handoff_id: str | None = None, **data: Any
) -> None:
    """Record one event in the caller's transaction (so it exists exactly when its cause does)."""
    conn.execute(
        _INSERT,
        {"type": type, "case_id": case_id, "handoff_id": handoff_id, "actor": actor, "data": data, "created_at": now()},
    )


_INSERT = insert(events).inline()
"""Built once (its values are the execute's parameters): see `update_handoff`'s `_update`. Inline: no
RETURNING of the new row's id, which nobody reads (a result to build and process per event)."""


def append_many(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Record several events at once; each dict has type, case_id, handoff_id, actor, data."""
    if rows:
        at = now()
        conn.execute(_INSERT, [{**r, "created_at": at} for r in rows])


_SEQUENCE_PG = text(
    """
    UPDATE events SET position = numbered.position
    FROM (
        SELECT waiting.id,
               (SELECT coalesce(max(position), 0) FROM events) + row_number() OVER (ORDER BY waiting.id) AS position
        FROM (SELECT id FROM events WHERE position IS NULL ORDER BY id LIMIT :limit) AS waiting
    ) AS numbered
    WHERE events.id = numbered.id
    """
)
"""`sequence` in one statement (PostgreSQL): one round trip, whatever the number of events."""


def sequence(conn: Connection, limit: int = 2000) -> int:
    """Give committed events their feed positions, in id order; returns how many.

    Run by one sequencer at a time (the caller holds the relay's lock).
    """
    if conn.dialect.name == "postgresql":
        return int(conn.execute(_SEQUENCE_PG, {"limit": limit}).rowcount)
    ids = (
        conn.execute(select(events.c.id).where(events.c.position.is_(None)).order_by(events.c.id).limit(limit))
        .scalars()
        .all()
    )
    if not ids:
        return 0
    top = conn.execute(select(func.coalesce(func.max(events.c.position), 0))).scalar_one()
    conn.execute(
        update(events).where(events.c.id == bindparam("_id")).values(position=bindparam("_pos")),
        [{"_id": i, "_pos": top + n} for n, i in enumerate(ids, start=1)],
    )
    return len(ids)


def _query() -> Any:
    return select(
        events.c.id,
        events.c.position,
        events.c.type,
        events.c.case_id,
        cases.c.reference,
        events.c.handoff_id,
        events.c.actor,
        events.c.data,
        events.c.created_at,
    ).join(cases, cases.c.id == events.c.case_id)


def _event(row: Any, use_position: bool) -> Event:
    m = row._mapping
    return Event(
        id=m["position"] if use_position else m["id"],
        type=m["type"],
        case=m["case_id"],
        reference=m["reference"],
        handoff=m["handoff_id"],
        actor=m["actor"],
        data=m["data"],
        created_at=m["created_at"],
    )


def feed(conn: Connection, after: int, limit: int) -> list[Event]:
    """Sequenced events after a cursor; `Event.id` is the position to resume from."""
    rows = conn.execute(_query().where(events.c.position > after).order_by(events.c.position).limit(limit)).all()
    return [_event(r, use_position=True) for r in rows]


def for_case(conn: Connection, case_id: str, after: int | None = None, limit: int | None = None) -> list[Event]:
    """The events of one case, oldest first: all of them, or `limit` after the event `after`."""
    q = _query().where(events.c.case_id == case_id).order_by(events.c.id)
    if after is not None:
        q = q.where(events.c.id > after)
    if limit is not None:
        q = q.limit(limit)
    rows = conn.execute(q).all()
    return [_event(r, use_position=False) for r in rows]
