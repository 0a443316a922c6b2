"""The transactional outbox: work is written with its cause, claimed with a lease, done once.

A row stays until its work is done. Whenever `due_at` passes (a lost message, a killed worker, or
a retry delay) the relay publishes it again, so the broker is only ever a wake-up.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, insert, select, tuple_, update

from broker import wakeup
from broker.store.engine import now
from broker.store.lists import one_of
from broker.store.tables import outbox

DELIVER = "deliver"
"""Topic: deliver one handoff to its agency (ref: the handoff id)."""
WEBHOOK = "webhook"
"""Topic: send the next events to the national system (ref: the webhook cursor's name)."""
FOLLOW_ON = "follow_on"
"""Topic: send one follow-on message to its agency (ref: the follow-on's id)."""


@dataclass(frozen=True)
class Taken:
    """Work a consumer holds: its attempt number and the claim token that fences its writes."""

    attempt: int
    token: str


@dataclass(frozen=True)
class Work:
    """One claimed outbox row, as carried in a broker message."""

    topic: str
    ref: str
    agency_id: str | None
    token: str


def enqueue(conn: Connection, rows: Iterable[tuple[str, str, str | None]]) -> None:
    """Add (topic, ref, agency_id) work, due now, in the caller's transaction."""
    at = now()
    values = [{"topic": t, "ref": r, "agency_id": a, "due_at": at, "attempts": 0, "created_at": at} for t, r, a in rows]
    if values:
        conn.execute(_ENQUEUE, values)
        wakeup.announce(conn)


_ENQUEUE = insert(outbox).inline()
"""Built once, as `events.append`'s, and without RETURNING the new row's id (nobody reads it)."""


def ensure(conn: Connection, topic: str, ref: str) -> None:
    """Add work unless the same work is already waiting (for singletons such as the webhook)."""
    exists = conn.execute(select(outbox.c.id).where(outbox.c.topic == topic, outbox.c.ref == ref)).first()
    if exists is None:
        enqueue(conn, [(topic, ref, None)])


def claim_due(
    conn: Connection, limit: int, lease_seconds: float, skip_locked: bool, among: ColumnElement[bool] | None = None
) -> list[Work]:
    """Take up to `limit` due rows (only `among` these, if given) and push their due time one lease ahead.

    Each claim gets a new token, so a consumer can tell that its message went stale.
    """
    at = now()
    query = select(outbox.c.id, outbox.c.topic, outbox.c.ref, outbox.c.agency_id).where(outbox.c.due_at <= at)
    if among is not None:
        query = query.where(among)
    query = query.order_by(outbox.c.due_at).limit(limit)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return []
    token = secrets.token_hex(8)
    ids = [r.id for r in rows]
    conn.execute(
        update(outbox).where(outbox.c.id.in_(ids)).values(due_at=at + timedelta(seconds=lease_seconds), token=token)
    )
    return [Work(r.topic, r.ref, r.agency_id, token) for r in rows]


def take(conn: Connection, topic: str, ref: str, token: str, lease_seconds: float) -> Taken | None:
    """Start the work a message carries, if that message is still the current claim.

    The claim's token is replaced by one only this consumer knows, so a duplicate of the same
    message (or one redelivered after its worker died) finds a stale token and does nothing; the
    lease then runs out and the relay publishes the work afresh. None when there is nothing to do.
    """
    return take_many(conn, topic, [(ref, token)], lease_seconds).get(ref)


def take_many(conn: Connection, topic: str, claims: list[tuple[str, str]], lease_seconds: float) -> dict[str, Taken]:
    """`take` for every (ref, token) claim of one message in one statement; refs gone stale are absent.

    The claims of one message come from one relay pass, whose tokens no other claim ever bears, so
    a row bearing any of them is this message's (as in `finish`): refs and tokens go as two arrays,
    a statement rendered once, where pairs were an IN list rendered anew on every call.
    """
    if not claims:
        return {}
    mine = secrets.token_hex(8)
    due = now() + timedelta(seconds=lease_seconds)
    taken = conn.execute(_TAKE, {**_claimed(topic, claims), "_due": due, "_mine": mine})
    return {row.ref: Taken(int(row.attempts), mine) for row in taken}


def renew(conn: Connection, topic: str, claims: dict[str, str], lease_seconds: float) -> set[str]:
    """Push the leases of work still held (ref → token) one lease ahead; returns the refs still held."""
    if not claims:
        return set()
    renewed = conn.execute(
        update(outbox)
        .where(outbox.c.topic == topic, tuple_(outbox.c.ref, outbox.c.token).in_(list(claims.items())))
        .values(due_at=now() + timedelta(seconds=lease_seconds))
        .returning(outbox.c.ref)
    )
    return {row.ref for row in renewed}


def holding(conn: Connection, topic: str, claims: dict[str, str]) -> set[str]:
    """Which of these (ref → token) claims are still current, their rows locked until commit.

    A consumer writes an outcome only for these: a stale one was re-claimed (its lease ran out)
    or settled by someone else meanwhile.
    """
    return holding_and_waiting(conn, topic, claims)[0]


def holding_and_waiting(conn: Connection, topic: str, claims: dict[str, str]) -> tuple[set[str], set[str]]:
    """`holding`, and which of these refs still have work in the outbox at all (`waiting`): one read."""
    if not claims:
        return set(), set()
    query = _HOLDING if conn.dialect.name == "postgresql" else _WAITING
    rows = conn.execute(query, {"_topic": topic, "_refs": list(claims)}).all()
    return {row.ref for row in rows if row.token == claims[row.ref]}, {row.ref for row in rows}


def finish(conn: Connection, topic: str, claims: dict[str, str]) -> set[str]:
    """Remove the work of these (ref → token) claims that is still held; returns the refs removed.

    `holding` and `done` in one statement, for work that is over whatever happens next: its rows
    are locked until commit as `holding` locks them. The claims of one settle come from one
    message, so they share one token; a row bearing any of them is held by this consumer.
    """
    if not claims:
        return set()
    rows = conn.execute(_FINISH, _claimed(topic, claims.items()))
    return {row.ref for row in rows}


def give_back(conn: Connection, topic: str, claims: dict[str, str]) -> set[str]:
    """Hand back held work that was never started (ref → token): due at once, unclaimed, its attempt uncounted.

    Returns the refs given back; a claim gone stale meanwhile is someone else's and stays as it is.
    """
    if not claims:
        return set()
    rows = conn.execute(_GIVE_BACK, {**_claimed(topic, claims.items()), "_at": now()})
    return {row.ref for row in rows}


def _claimed(topic: str, claims: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The parameters naming one message's (ref, token) claims: its refs and its tokens, two arrays."""
    pairs = list(claims)
    return {"_topic": topic, "_refs": [ref for ref, _ in pairs], "_tokens": sorted({token for _, token in pairs})}


def waiting(conn: Connection, topic: str, refs: list[str]) -> set[str]:
    """Which of these refs still have work in the outbox (the others are done)."""
    return {r.ref for r in conn.execute(_WAITING, {"_topic": topic, "_refs": refs})}


def postpone(conn: Connection, topic: str, ref: str, seconds: float) -> None:
    """Try again in `seconds` (a retry delay kept in the database, never in a broker ETA).

    The token is dropped: a waiting row is not in flight (see broker.isolation).
    """
    conn.execute(
        update(outbox)
        .where(outbox.c.topic == topic, outbox.c.ref == ref)
        .values(due_at=now() + timedelta(seconds=seconds), token=None)
    )


def done(conn: Connection, topic: str, refs: Iterable[str]) -> None:
    """The work is finished: remove it."""
    refs = list(refs)
    if refs:
        conn.execute(_DONE, {"_topic": topic, "_refs": refs})


# Built once: building a statement (and its cache key) per call cost more CPU than running it.
_OF_TOPIC = outbox.c.topic == bindparam("_topic")
_REFS = one_of(outbox.c.ref, "_refs")
_TOKENS = one_of(outbox.c.token, "_tokens")
_TAKE = (
    update(outbox)
    .where(_OF_TOPIC, _REFS, _TOKENS)
    .values(due_at=bindparam("_due"), token=bindparam("_mine"), attempts=outbox.c.attempts + 1)
    .returning(outbox.c.ref, outbox.c.attempts)
)
_WAITING = select(outbox.c.ref, outbox.c.token).where(_OF_TOPIC, _REFS)
_HOLDING = _WAITING.with_for_update()
"""`_WAITING` with the rows locked until commit (PostgreSQL; SQLite's writer holds the whole file)."""
_DONE = delete(outbox).where(_OF_TOPIC, _REFS)
_FINISH = delete(outbox).where(_OF_TOPIC, _REFS, _TOKENS).returning(outbox.c.ref)
_GIVE_BACK = (
    update(outbox)
    .where(_OF_TOPIC, _REFS, _TOKENS)
    .values(due_at=bindparam("_at"), token=None, attempts=outbox.c.attempts - 1)
    .returning(outbox.c.ref)
)
