"""Handoff rows: read as a typed `Handoff`, written through a few functions that can guard their state.

A write that names the state it expects (`expect=`) changes nothing and raises Conflict when the
row moved on meanwhile, so two actors never both apply a move (one wins, the other is told).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ClauseElement, Connection, Row, Update, bindparam, select, update

from broker.errors import Conflict, NotFound
from broker.store.engine import now
from broker.store.lists import one_of
from broker.store.tables import handoffs


@dataclass(frozen=True)
class Handoff:
    """One handoff row."""

    id: str
    case_id: str
    agency_id: str
    adapter: str
    manual: bool
    state: str
    overdue: bool
    round: int
    uncertain: bool
    followup_reason: str | None
    followup: str | None
    followup_since: datetime | None
    transfer_request: dict[str, Any] | None
    attempts: int
    last_error: str | None
    agency_reference: str | None
    transferred_from: str | None
    created_at: datetime
    updated_at: datetime
    ack_due_at: datetime | None
    answer_due_at: datetime | None
    answer_allowed: float | None
    review_due_at: datetime | None
    warn_at: datetime | None
    next_check_at: datetime | None
    paused_at: datetime | None
    remaining: float | None
    acknowledged_at: datetime | None
    answered_at: datetime | None
    warned: bool
    escalation_level: int
    deadline_version: int
    extension_request: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Handoff:
        """The handoff in a result row (extra columns from a join are ignored)."""
        m = row._mapping
        return cls(**{name: m[name] for name in _FIELDS})


_FIELDS = tuple(f.name for f in fields(Handoff))


def load(conn: Connection, handoff_id: str, *, lock: bool = False, agency_id: str | None = None) -> Handoff:
    """One handoff; with `agency_id`, another agency's handoff is NotFound, as one that does not exist.

    `lock` holds the row until commit (FOR UPDATE on PostgreSQL; SQLite has one writer at a time).
    """
    return found(conn.execute(_LOAD_LOCKED if lock else _LOAD, {"_id": handoff_id}).first(), handoff_id, agency_id)


def found(row: Row[Any] | None, handoff_id: str, agency_id: str | None = None) -> Handoff:
    """The handoff a read returned; NotFound for none, and (with `agency_id`) for another agency's."""
    if row is None or (agency_id is not None and row.agency_id != agency_id):
        raise NotFound(f"no handoff '{handoff_id}'")
    return Handoff.from_row(row)


_LOAD = select(handoffs).where(handoffs.c.id == bindparam("_id"))
_LOAD_LOCKED = _LOAD.with_for_update()


def load_many(conn: Connection, handoff_ids: Iterable[str]) -> dict[str, Handoff]:
    """The handoffs with these ids that exist, by id."""
    rows = conn.execute(select(handoffs).where(handoffs.c.id.in_(list(handoff_ids)))).all()
    return {row.id: Handoff.from_row(row) for row in rows}


def update_handoff(
    conn: Connection, handoff_id: str, values: dict[str, Any], *, expect: str | Iterable[str] | None = None
) -> None:
    """Write these columns of one handoff and stamp it updated.

    With `expect`, only if the handoff is still in that state (or one of those): otherwise nothing
    is written and Conflict says where it is now.
    """
    states = None if expect is None else [expect] if isinstance(expect, str) else list(expect)
    if any(isinstance(v, ClauseElement) for v in values.values()):  # computed in SQL: a statement of its own
        query = update(handoffs).where(handoffs.c.id == handoff_id).values(**values, updated_at=now())
        written = conn.execute(query if states is None else query.where(handoffs.c.state.in_(states)))
    else:
        params = {"_id": handoff_id, "_updated_at": now(), "_states": states, **{f"_{k}": v for k, v in values.items()}}
        written = conn.execute(_update(tuple(sorted(values)), states is not None), params)
    if written.rowcount == 1 or expect is None:
        return
    current = conn.execute(select(handoffs.c.state).where(handoffs.c.id == handoff_id)).scalar()
    if current is None:
        raise NotFound(f"no handoff '{handoff_id}'")
    raise Conflict(f"handoff '{handoff_id}' is {current} now; someone else acted on it first", state=current)


@cache
def _update(columns: tuple[str, ...], guarded: bool) -> Update:
    """The UPDATE of these columns, built once.

    Building one with its values on each call (and its cache key) cost more CPU than the database
    took to run it.
    """
    query = update(handoffs).where(handoffs.c.id == bindparam("_id"))
    if guarded:
        query = query.where(one_of(handoffs.c.state, "_states"))
    return query.values({**{c: bindparam(f"_{c}") for c in columns}, "updated_at": bindparam("_updated_at")})


def update_handoffs(conn: Connection, changes: dict[str, dict[str, Any]]) -> None:
    """`update_handoff` for many handoffs: one batched statement per set of columns written."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    at = now()
    for handoff_id, values in changes.items():
        row = {"_id": handoff_id, "_updated_at": at, **{f"_{k}": v for k, v in values.items()}}
        shapes[tuple(sorted(values))].append(row)
    for columns, rows in shapes.items():
        conn.execute(_update(columns, False), rows)
