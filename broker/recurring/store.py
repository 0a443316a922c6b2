"""Grouping in the store: attach new cases soon after intake, rebuild everything, mark known problems.

`attach_pending` takes the cases not yet grouped, in intake order, and attaches them in one pass
through `StoreIndex`, which reads only the groups filed under the pass's keys and active in its
time window (an index range), never every case, and writes each touched group once. One attacher
at a time (an advisory lock on PostgreSQL; SQLite has one writer anyway), so the attachment order
is a single sequence; `rebuild` replays that sequence from nothing, which is why both give the
same groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import structlog
from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from broker import events
from broker.hub import Hub
from broker.recurring.features import Place, Signature, prepare, signatures
from broker.recurring.grouping import Attached, Group, MemoryIndex, Params, attach, keys
from broker.recurring.similarity import Arrays, arrays
from broker.store.audit import audit
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


def _values(g: Group, at: datetime) -> dict[str, Any]:
    """A group's row (without its id), as the attacher and a rebuild write it."""
    return {
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


class StoreIndex(MemoryIndex):
    """The grouping `Index` over the store for one pass of the attacher, inside its transaction.

    The pass holds the attacher's lock, so nothing else changes the groups while it runs: the groups
    its cases could join (filed under their keys, active in their windows) are read once at the
    start, grouping then runs in memory as a rebuild does, and `flush` writes each group the pass
    touched once, however many of its cases joined it.
    """

    def __init__(self, conn: Connection, sigs: list[Signature], params: Params) -> None:
        super().__init__()
        self.conn = conn
        self.seq = int(conn.execute(select(func.coalesce(func.max(recurring_cases.c.seq), 0))).scalar_one())
        self.created: set[str] = set()
        self.touched: set[str] = set()
        self.rows: list[dict[str, Any]] = []
        if not sigs:
            return
        since = min(s.at for s in sigs) - params.window
        wanted = sorted({k for s in sigs for k in keys(s.category, s.place)})
        k = recurring_keys.c
        for key, gid in conn.execute(select(k.key, k.group_id).where(k.key.in_(wanted), k.last_at >= since)):
            self.by_key.setdefault(key, []).append(gid)
        ids = sorted({gid for gids in self.by_key.values() for gid in gids})
        for n in range(0, len(ids), 1000):
            chunk = select(recurring_groups).where(recurring_groups.c.id.in_(ids[n : n + 1000]))
            self.groups.update((r.id, _group(r)) for r in conn.execute(chunk))

    def save(self, group: Group, sig: Signature, score: float, created: bool) -> None:
        """Keep the group in memory and note the case's row; `flush` writes them."""
        super().save(group, sig, score, created)
        self.touched.add(group.id)
        if created:
            self.created.add(group.id)
        self.seq += 1
        self.rows.append(
            {
                "case_id": sig.case_id,
                "group_id": group.id,
                "seq": self.seq,
                "score": score,
                "at": sig.at,
                "agencies": list(sig.agencies),
                "flagged": False,
                "attached_at": now(),
            }
        )

    def flag(self, case_id: str) -> None:
        """The case (attached in this pass) joined a marked group."""
        for row in self.rows:
            if row["case_id"] == case_id:
                row["flagged"] = True

    def flush(self) -> None:
        """Write the pass: each touched group once, the cases' rows, its keys and their last report."""
        at = now()
        groups = [self.groups[gid] for gid in sorted(self.touched)]
        values = [_values(g, at) for g in groups]
        new = [{"id": g.id, **v} for g, v in zip(groups, values, strict=True) if g.id in self.created]
        old = [
            # a bind name may not be a column's name in an UPDATE's SET: prefixed with v_
            {"gid": g.id, **{f"v_{c}": x for c, x in v.items()}}
            for g, v in zip(groups, values, strict=True)
            if g.id not in self.created
        ]
        if new:
            self.conn.execute(insert(recurring_groups), new)
        if old:
            columns: dict[str, Any] = {c: bindparam(f"v_{c}") for c in values[0]}
            self.conn.execute(
                update(recurring_groups).where(recurring_groups.c.id == bindparam("gid")).values(columns), old
            )
        if self.rows:
            self.conn.execute(insert(recurring_cases), self.rows)
        filings = [
            {"key": key, "group_id": gid, "last_at": self.groups[gid].last_at}
            for key, gids in sorted(self.by_key.items())
            for gid in gids
            if gid in self.touched
        ]
        if filings:
            dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
            self.conn.execute(dialect.insert(recurring_keys).on_conflict_do_nothing(), filings)
        if old:
            self.conn.execute(
                update(recurring_keys)
                .where(recurring_keys.c.group_id == bindparam("gid"))
                .values(last_at=bindparam("v_last_at")),
                [{"gid": r["gid"], "v_last_at": r["v_last_at"]} for r in old],
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
    return signatures([(r.id, r.payload, tuple(agencies.get(r.id, ()))) for r in rows])


def _flag(conn: Connection, index: StoreIndex, attached: Attached, mark: Any) -> None:
    """A case joined a group the office marked: say so on its row and on each of its handoffs."""
    index.flag(attached.case_id)
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
        sigs = _signatures(conn, rows)
        index = StoreIndex(conn, sigs, params)
        marks = {m.group_id: m for m in conn.execute(select(recurring_marks))}
        done = []
        for sig in sigs:
            attached = attach(index, sig, params)
            if attached.group_id in marks:
                _flag(conn, index, attached, marks[attached.group_id])
            done.append(attached)
        index.flush()
        high = max(r.created_at for r in rows).isoformat()
        if mark is None:
            conn.execute(insert(cursors).values(name=CURSOR, position=0, value=high, attempts=0))
        elif high > mark:
            conn.execute(update(cursors).where(cursors.c.name == CURSOR).values(value=high))
    log.info("recurring.attached", count=len(done), new_groups=sum(a.created for a in done))
    return done


def run_scheduled(hub: Hub) -> None:
    """The scheduler's job: attach whatever arrived since the last pass."""
    prepare()  # once per process (cached): its first pass runs at start-up, before any case
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
                [{"id": g.id, **_values(g, at)} for g in memory.groups.values()],
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
    """Mark a group as a known recurring problem owned by `owner_agency` (again: the mark is replaced).

    The staff audit trail records it as `recurring.marked`, in the same transaction.
    """
    if conn.execute(select(recurring_groups.c.id).where(recurring_groups.c.id == group_id)).first() is None:
        raise LookupError(group_id)
    conn.execute(delete(recurring_marks).where(recurring_marks.c.group_id == group_id))
    conn.execute(
        insert(recurring_marks).values(
            group_id=group_id, owner_agency=owner_agency, note=note, marked_by=by, marked_at=now()
        )
    )
    audit(conn, by, "recurring.marked", group_id, owner_agency=owner_agency, note=note)
