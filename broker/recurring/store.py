"""Grouping in the store: attach new cases soon after intake, rebuild everything, mark known problems.

`attach_pending` takes the cases not yet grouped, in intake order, and attaches each through
`StoreIndex`, which reads only the groups filed under the case's keys and active in its time
window (an index range), never every case. One attacher at a time (an advisory lock on
PostgreSQL; SQLite has one writer anyway), so the attachment order is a single sequence;
`rebuild` replays that sequence from nothing, which is why both give the same groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import structlog
from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, text, update

from broker import events
from broker.hub import Hub
from broker.recurring.features import Place, Signature, signature
from broker.recurring.grouping import Attached, Group, MemoryIndex, Params, attach, keys
from broker.recurring.similarity import Arrays, arrays
from broker.store.engine import now, transaction
from broker.store.tables import (
    cases,
    cursors,
    handoffs,
    recurring_cases,
    recurring_groups,
    recurring_keys,
    recurring_marks,
)

log = structlog.get_logger(__name__)

EVERY = 5.0
"""Seconds between the scheduler's passes over new cases."""
CURSOR = "recurring"
LOOKBACK = timedelta(minutes=10)
"""A case committed this long after its created_at is still picked up (transactions are far shorter)."""
BATCH = 500
_LOCK = 0x7441_7263  # arbitrary, constant advisory-lock key for the attacher


def pack(vector: dict[int, float]) -> bytes:
    """A sparse vector as bytes: its indices (int64) then its weights (float64), sorted by index."""
    idx, val = arrays(vector)
    return idx.astype("<i8").tobytes() + val.astype("<f8").tobytes()


def unpack(data: bytes) -> Arrays:
    """The vector `pack` wrote, as arrays (no copy)."""
    half = len(data) // 2
    return np.frombuffer(data[:half], dtype="<i8"), np.frombuffer(data[half:], dtype="<f8")


def _group(row: Any) -> Group:
    return Group(
        id=row.id,
        kind=row.kind,
        place=Place(row.governorate, row.block, row.road),
        first_at=row.first_at,
        last_at=row.last_at,
        size=row.size,
        categories=list(row.categories),
        faults=list(row.faults),
        centroid_norm=row.centroid_norm,
        stored=unpack(row.centroid),
    )


class StoreIndex:
    """The grouping `Index` over the store, inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seq = int(conn.execute(select(func.coalesce(func.max(recurring_cases.c.seq), 0))).scalar_one())
        self.attached: list[tuple[Attached, str]] = []

    def candidates(self, keys: list[str], since: datetime, until: datetime, place: Place, kind: str) -> list[Group]:
        """Groups filed under `keys` with a report in [since, until] (an index range per key), not elsewhere."""
        g = recurring_groups.c
        ids = select(recurring_keys.c.group_id).where(recurring_keys.c.key.in_(keys), recurring_keys.c.last_at >= since)
        query = select(recurring_groups).where(g.id.in_(ids), g.first_at <= until, g.kind == kind)
        if place.governorate:
            query = query.where(or_(g.governorate.is_(None), g.governorate == place.governorate))
        if place.block:
            query = query.where(or_(g.block.is_(None), g.block == place.block))
        return [_group(r) for r in self.conn.execute(query.order_by(g.id))]

    def save(self, group: Group, sig: Signature, score: float, created: bool) -> None:
        """Write the group, the case's row and the group's keys."""
        at = now()
        values = {
            "kind": group.kind,
            "governorate": group.place.governorate,
            "block": group.place.block,
            "road": group.place.road,
            "first_at": group.first_at,
            "last_at": group.last_at,
            "size": group.size,
            "categories": group.categories,
            "faults": group.faults,
            "centroid": pack(group.centroid),
            "centroid_norm": group.centroid_norm,
            "updated_at": at,
        }
        if created:
            self.conn.execute(insert(recurring_groups).values(id=group.id, **values))
        else:
            self.conn.execute(update(recurring_groups).where(recurring_groups.c.id == group.id).values(**values))
        self.seq += 1
        self.conn.execute(
            insert(recurring_cases).values(
                case_id=sig.case_id,
                group_id=group.id,
                seq=self.seq,
                score=score,
                at=sig.at,
                agencies=list(sig.agencies),
                flagged=False,
                attached_at=at,
            )
        )
        filed = set(
            self.conn.execute(select(recurring_keys.c.key).where(recurring_keys.c.group_id == group.id)).scalars()
        )
        new = [k for k in keys(sig.category, group.place) if k not in filed]
        if new:
            self.conn.execute(
                insert(recurring_keys), [{"key": k, "group_id": group.id, "last_at": group.last_at} for k in new]
            )
        self.conn.execute(
            update(recurring_keys).where(recurring_keys.c.group_id == group.id).values(last_at=group.last_at)
        )


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})


def _signatures(conn: Connection, rows: Sequence[Any]) -> list[Signature]:
    ids = [r.id for r in rows]
    agencies: dict[str, list[str]] = {}
    for case_id, agency in conn.execute(
        select(handoffs.c.case_id, handoffs.c.agency_id).where(handoffs.c.case_id.in_(ids)).order_by(handoffs.c.id)
    ):
        agencies.setdefault(case_id, []).append(agency)
    return [signature(r.id, r.payload, tuple(agencies.get(r.id, ()))) for r in rows]


def _flag(conn: Connection, attached: Attached) -> None:
    """A case joined a group the office marked: say so on each of its handoffs."""
    mark = conn.execute(select(recurring_marks).where(recurring_marks.c.group_id == attached.group_id)).first()
    if mark is None:
        return
    conn.execute(update(recurring_cases).where(recurring_cases.c.case_id == attached.case_id).values(flagged=True))
    rows = [
        {
            "type": "handoff.recurring",
            "case_id": attached.case_id,
            "handoff_id": h,
            "actor": "hub",
            "data": {"group": attached.group_id, "owner_agency": mark.owner_agency, "note": mark.note},
        }
        for h in conn.execute(select(handoffs.c.id).where(handoffs.c.case_id == attached.case_id)).scalars()
    ]
    events.append_many(conn, rows)


def attach_pending(engine: Engine, params: Params = Params(), limit: int = BATCH) -> list[Attached]:
    """Attach the cases not yet grouped (up to `limit`), oldest first; returns where each went."""
    with transaction(engine) as conn:
        _lock(conn)
        mark = conn.execute(select(cursors.c.value).where(cursors.c.name == CURSOR)).scalar()
        query = select(cases.c.id, cases.c.payload, cases.c.created_at).where(
            ~select(recurring_cases.c.case_id).where(recurring_cases.c.case_id == cases.c.id).exists()
        )
        if mark:
            query = query.where(cases.c.created_at >= datetime.fromisoformat(mark) - LOOKBACK)
        rows = conn.execute(query.order_by(cases.c.created_at, cases.c.id).limit(limit)).all()
        if not rows:
            return []
        index = StoreIndex(conn)
        done = []
        for sig in _signatures(conn, rows):
            attached = attach(index, sig, params)
            _flag(conn, attached)
            done.append(attached)
        high = max(r.created_at for r in rows).isoformat()
        if mark is None:
            conn.execute(insert(cursors).values(name=CURSOR, position=0, value=high, attempts=0))
        elif high > mark:
            conn.execute(update(cursors).where(cursors.c.name == CURSOR).values(value=high))
    log.info("recurring.attached", count=len(done), new_groups=sum(a.created for a in done))
    return done


def run_scheduled(hub: Hub) -> None:
    """The scheduler's job: attach whatever arrived since the last pass."""
    while len(attach_pending(hub.engine)) == BATCH:
        pass


def rebuild(engine: Engine, params: Params = Params()) -> int:
    """Group every case again from nothing: first in the order they were attached, then the rest by intake.

    Marks stay (groups are named after their first case, so an unchanged group keeps its mark).
    Returns how many cases were grouped.
    """
    with transaction(engine) as conn:
        _lock(conn)
        order = {
            c: n
            for n, c in enumerate(
                conn.execute(select(recurring_cases.c.case_id).order_by(recurring_cases.c.seq)).scalars()
            )
        }
        rows = conn.execute(
            select(cases.c.id, cases.c.payload, cases.c.created_at).order_by(cases.c.created_at, cases.c.id)
        ).all()
        rows = sorted(rows, key=lambda r: (0, order[r.id], "") if r.id in order else (1, 0, r.id))
        flagged = set(conn.execute(select(recurring_cases.c.case_id).where(recurring_cases.c.flagged)).scalars())
        sigs = _signatures(conn, rows)
        memory = MemoryIndex()
        placed = [attach(memory, sig, params) for sig in sigs]
        for table in (recurring_cases, recurring_keys, recurring_groups):
            conn.execute(delete(table))
        at = now()
        if memory.groups:
            conn.execute(
                insert(recurring_groups),
                [
                    {
                        "id": g.id,
                        "kind": g.kind,
                        "governorate": g.place.governorate,
                        "block": g.place.block,
                        "road": g.place.road,
                        "first_at": g.first_at,
                        "last_at": g.last_at,
                        "size": g.size,
                        "categories": g.categories,
                        "faults": g.faults,
                        "centroid": pack(g.centroid),
                        "centroid_norm": g.centroid_norm,
                        "updated_at": at,
                    }
                    for g in memory.groups.values()
                ],
            )
        by_sig = {s.case_id: s for s in sigs}
        if placed:
            conn.execute(
                insert(recurring_cases),
                [
                    {
                        "case_id": a.case_id,
                        "group_id": a.group_id,
                        "seq": n,
                        "score": a.score,
                        "at": by_sig[a.case_id].at,
                        "agencies": list(by_sig[a.case_id].agencies),
                        "flagged": a.case_id in flagged,
                        "attached_at": at,
                    }
                    for n, a in enumerate(placed, start=1)
                ],
            )
            conn.execute(
                insert(recurring_keys),
                [
                    {"key": k, "group_id": gid, "last_at": memory.groups[gid].last_at}
                    for k, gids in memory.by_key.items()
                    for gid in gids
                ],
            )
    log.info("recurring.rebuilt", cases=len(placed), groups=len(memory.groups))
    return len(placed)


def groups_of(conn: Connection) -> list[set[str]]:
    """Every group as a set of case ids (for comparisons and tests)."""
    out: dict[str, set[str]] = {}
    for case_id, group_id in conn.execute(select(recurring_cases.c.case_id, recurring_cases.c.group_id)):
        out.setdefault(group_id, set()).add(case_id)
    return sorted(out.values(), key=sorted)


def mark(conn: Connection, group_id: str, owner_agency: str, by: str, note: str | None = None) -> None:
    """Mark a group as a known recurring problem owned by `owner_agency` (again: the mark is replaced)."""
    if conn.execute(select(recurring_groups.c.id).where(recurring_groups.c.id == group_id)).first() is None:
        raise LookupError(group_id)
    conn.execute(delete(recurring_marks).where(recurring_marks.c.group_id == group_id))
    conn.execute(
        insert(recurring_marks).values(
            group_id=group_id, owner_agency=owner_agency, note=note, marked_by=by, marked_at=now()
        )
    )
