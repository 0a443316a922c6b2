"""One slow or dead agency never delays the others: per-agency limits on what the relay claims.

A connected agency's deliveries go in broker messages of its own, each delivered one handoff after
another, so the calls under way at one agency are its messages in flight: outbox rows under lease
(claimed, the lease not yet run out; a row waiting for a retry has no token and does not count),
one claim token each. The relay keeps at most `max_in_flight` such messages per agency, a pass
giving one with a message to spare up to `task_batch` of its due handoffs, and none (or one
probe) while the agency's circuit is open. So a hanging agency holds at most that many worker
threads and the rest of the work keeps flowing, and work that piled up behind a busy agency
leaves in full messages: a worker's cost is mostly per message, not per handoff. Manual agencies
wait on nobody: their limit is handoffs, and only the pass size bounds it.
Claims are serialised by a transaction-level advisory lock on PostgreSQL (SQLite has one writer
anyway), so several relays together never exceed a limit.

Worker side, `bounded` keeps a worker from waiting on an adapter longer than `delivery_timeout`,
even one that ignores its own timeouts (Celery's thread pool enforces no task time limit).
"""

from __future__ import annotations

import contextvars
import os
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import CompoundSelect, Connection, Select, bindparam, func, select, text, union_all

from adapters.errors import RetriableDeliveryError, UncertainDeliveryError
from broker import circuit, outbox
from broker.circuit import Circuit, CircuitState
from broker.hub import Hub
from broker.outbox import Work
from broker.settings import Settings
from broker.store.engine import now
from broker.store.tables import outbox as outbox_table
from schemas import AgencyConfig

_CLAIM_LOCK = 0x7441_636C  # arbitrary, constant advisory-lock key for per-agency claims
CLAIM_LOCK = _CLAIM_LOCK

T = TypeVar("T")


def max_in_flight(settings: Settings, agency: AgencyConfig, manual: bool) -> int:
    """The agency's own limit from agencies.yaml, else the hub's default; none for manual adapters."""
    if manual:
        return settings.relay_batch  # a manual adapter waits on nobody: only the pass size bounds it
    return agency.max_in_flight or settings.agency_max_in_flight


def _manual(hub: Hub, agency_id: str) -> bool:
    return hub.directory.adapter(agency_id).capabilities.manual


@dataclass(frozen=True)
class InFlight:
    """One agency's work published or running now: broker messages, and the handoffs they carry."""

    messages: int
    handoffs: int


def in_flight(conn: Connection, at: datetime) -> dict[str, InFlight]:
    """Leased outbox work per agency: deliveries published or running now."""
    rows = conn.execute(_IN_FLIGHT, {"at": at})
    return {row.agency_id: InFlight(int(row.messages), int(row.handoffs)) for row in rows}


_o = outbox_table.c
_IN_FLIGHT = (
    select(
        _o.agency_id,
        # a message's rows share its claim token: the relay's, then the worker's own once taken
        func.count(func.distinct(_o.topic + ":" + _o.token)).label("messages"),
        func.count().label("handoffs"),
    )
    .where(
        _o.agency_id.is_not(None),
        _o.token.is_not(None),
        _o.due_at > bindparam("at"),
    )
    .group_by(_o.agency_id)
)
"""Built once: every relay pass runs it."""


def _room(hub: Hub, busy: dict[str, InFlight], circuits: dict[str, Circuit], at: datetime) -> dict[str, int]:
    """How many more handoffs each known agency may have claimed now.

    A connected agency with a message to spare gets one message's worth (one of each topic, in
    fact: a follow-on travels apart from deliveries); a manual agency what its limit leaves.
    """
    room: dict[str, int] = {}
    for agency_id, agency in hub.directory.agencies.items():
        free = _free(hub, agency_id, agency, busy.get(agency_id, InFlight(0, 0)))
        gate = circuit.allowance(circuits[agency_id], at) if agency_id in circuits else None
        room[agency_id] = max(0, free if gate is None else min(free, gate))
    return room


def _free(hub: Hub, agency_id: str, agency: AgencyConfig, held: InFlight) -> int:
    manual = _manual(hub, agency_id)
    limit = max_in_flight(hub.settings, agency, manual)
    if manual:
        return limit - held.handoffs
    return hub.settings.task_batch if held.messages < limit else 0


def _candidates(room: dict[str, int], limit: int, at: datetime) -> CompoundSelect[tuple[int]]:
    """Ids of the due rows a pass may claim: the oldest `room` of each agency, and work of no agency.

    One index range scan per agency (ix_outbox_agency_due), so the cost follows the agencies and
    the limits, not the backlog. Rows of an agency no longer in the directory are left alone
    (delivering them would fail anyway); work of no agency (the webhook) has no limit here.
    """
    o = outbox_table.c
    due = o.due_at <= at
    parts: list[Select[tuple[int]]] = [
        select(o.id).where(o.agency_id == agency_id, due).order_by(o.due_at).limit(min(n, limit))
        for agency_id, n in room.items()
        if n > 0
    ]
    parts.append(select(o.id).where(o.agency_id.is_(None), due).order_by(o.due_at).limit(limit))
    wrapped = [select(sub.c.id) for sub in (part.subquery() for part in parts)]  # SQLite: LIMIT only in a subquery
    return union_all(*wrapped)


_CLAIM_PG = text(
    """
    UPDATE outbox SET due_at = :lease_until, token = :token
    WHERE id IN (
        SELECT id FROM outbox
        WHERE due_at <= :at AND id IN (
            SELECT c.id
            FROM unnest(CAST(:agencies AS varchar[]), CAST(:rooms AS integer[])) AS r(agency_id, room)
            CROSS JOIN LATERAL (
                SELECT o.id FROM outbox o
                WHERE o.agency_id = r.agency_id AND o.due_at <= :at ORDER BY o.due_at LIMIT r.room
            ) AS c
            UNION ALL
            (SELECT o.id FROM outbox o WHERE o.agency_id IS NULL AND o.due_at <= :at ORDER BY o.due_at LIMIT :limit)
        )
        ORDER BY due_at LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, topic, ref, agency_id
    """
)
"""`_candidates` and `outbox.claim_due` as one fixed statement (PostgreSQL): one round trip, and
nothing for SQLAlchemy to build and compile again on each pass."""


def claim_lock(conn: Connection) -> None:
    """Serialise claims between relays (PostgreSQL; SQLite has one writer anyway)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CLAIM_LOCK})


def claim_due(
    conn: Connection, hub: Hub, limit: int, lease_seconds: float, skip_locked: bool, *, locked: bool = False
) -> list[Work]:
    """outbox.claim_due within each agency's limit and circuit; half-open circuits get one probe.

    `locked`: the caller holds the claim lock already (see `CLAIM_LOCK`).
    """
    if not locked:
        claim_lock(conn)
    at = now()
    circuits = circuit.load(conn)
    room = _room(hub, in_flight(conn, at), circuits, at)
    if conn.dialect.name == "postgresql" and skip_locked:
        claimed = _claim_pg(conn, room, limit, lease_seconds, at)
    else:
        among = outbox_table.c.id.in_(_candidates(room, limit, at))
        claimed = outbox.claim_due(conn, limit, lease_seconds, skip_locked, among=among)
    probed = {w.agency_id for w in claimed if w.agency_id is not None}
    probes = [c for a, c in sorted(circuits.items()) if a in probed and c.state is not CircuitState.closed]
    if probes:
        circuit.probing(conn, probes, circuit.Policy.from_settings(hub.settings))
    return claimed


def _claim_pg(conn: Connection, room: dict[str, int], limit: int, lease_seconds: float, at: datetime) -> list[Work]:
    chosen = [(agency_id, min(n, limit)) for agency_id, n in room.items() if n > 0]
    token = secrets.token_hex(8)
    rows = conn.execute(
        _CLAIM_PG,
        {
            "agencies": [a for a, _ in chosen],
            "rooms": [n for _, n in chosen],
            "at": at,
            "limit": limit,
            "lease_until": at + timedelta(seconds=lease_seconds),
            "token": token,
        },
    ).all()
    return [Work(r.topic, r.ref, r.agency_id, token) for r in sorted(rows, key=lambda r: r.id)]


@dataclass(frozen=True)
class AgencyStatus:
    """One agency's isolation state, for `tawasul-hub circuits` and the console."""

    agency: str
    in_flight: int
    """What `max_in_flight` counts: broker messages for a connected agency, handoffs for a manual one."""
    handoffs: int
    """Handoffs in flight, whatever the messages carrying them."""
    max_in_flight: int
    circuit: Circuit


def status(conn: Connection, hub: Hub) -> list[AgencyStatus]:
    """Every agency's deliveries in flight, limit and circuit."""
    busy = in_flight(conn, now())
    circuits = circuit.load(conn)
    rows = []
    for agency_id, agency in hub.directory.agencies.items():
        manual = _manual(hub, agency_id)
        held = busy.get(agency_id, InFlight(0, 0))
        rows.append(
            AgencyStatus(
                agency=agency_id,
                in_flight=held.handoffs if manual else held.messages,
                handoffs=held.handoffs,
                max_in_flight=max_in_flight(hub.settings, agency, manual),
                circuit=circuits.get(agency_id, Circuit(agency_id)),
            )
        )
    return rows


class _AgencyCalls:
    """One agency's adapter calls in this process: at most `size` at once (the slots), each on a kept daemon thread.

    Starting a thread for each delivery cost about 120 µs of CPU; a kept thread takes the next call
    in about 40. A thread stuck in a call that ignores its timeouts stays stuck and keeps its slot;
    one idle for `IDLE_SECONDS` ends. A thread counts itself idle before it frees its slot, so a call
    let in by that slot finds it: there are never more than `size` threads.
    """

    IDLE_SECONDS = 60.0

    def __init__(self, agency_id: str, size: int) -> None:
        self.name = f"deliver-{agency_id}"
        self.slots = threading.BoundedSemaphore(size)
        self.calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.idle = 0
        self.lock = threading.Lock()

    def run(self, call: Callable[[], None]) -> None:
        """Hand `call` (its slot taken) to an idle thread, or to a new one if none is idle."""
        with self.lock:
            start = self.idle == 0
            if not start:
                self.idle -= 1
        if start:
            threading.Thread(target=self._serve, name=self.name, daemon=True).start()
        self.calls.put(call)

    def _serve(self) -> None:
        while True:
            try:
                call = self.calls.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self.lock:
                    if self.idle > 0:  # still counted idle: no call was promised to this thread
                        self.idle -= 1
                        return
                continue  # a call is on its way here
            try:
                call()
            finally:
                with self.lock:
                    self.idle += 1
                self.slots.release()


_calls: dict[tuple[str, int], _AgencyCalls] = {}
"""Adapter calls running in this process, per agency and limit (a changed limit starts afresh)."""
_calls_lock = threading.Lock()
os.register_at_fork(after_in_child=_calls.clear)  # a forked child has none of the parent's threads


def _agency_calls(agency_id: str, size: int) -> _AgencyCalls:
    with _calls_lock:
        found = _calls.get((agency_id, size))
        if found is None:
            found = _calls[(agency_id, size)] = _AgencyCalls(agency_id, size)
        return found


def unanswered(outcome: object, crashed: bool) -> bool:
    """Whether an agency did not take a call for reasons of its own (down, busy, no answer), not the message's.

    It would not take the next call of the same broker message either: the worker ends the message
    there and gives the rest back unattempted (`outbox.give_back`), so a hanging agency costs a
    message one delivery timeout, not one per handoff. A refusal (PermanentDeliveryError) is about
    one message; an adapter's own bug (`crashed`) is not the agency's.
    """
    return isinstance(outcome, RetriableDeliveryError | UncertainDeliveryError) and not crashed


def bounded(hub: Hub, agency_id: str, call: Callable[[], T]) -> T:
    """Run one adapter call on one of the agency's kept threads and wait at most `delivery_timeout` for it.

    Celery's thread pool enforces no time limit, so an adapter that ignores its timeouts would
    otherwise hold a worker thread for good (and, once the lease ran out, the next one too). Here
    the worker gives up after the timeout: the call may have reached the agency, so that is an
    UncertainDeliveryError (which counts towards the agency's circuit); the stuck call keeps one of
    the agency's `max_in_flight` slots in this process until it returns, so a hanging agency holds
    at most that many threads per process. Waiting for a slot sends nothing: that is retriable.
    """
    timeout = hub.settings.delivery_timeout
    size = max_in_flight(hub.settings, hub.directory.agency(agency_id), manual=False)
    calls = _agency_calls(agency_id, size)
    if not calls.slots.acquire(timeout=timeout):
        raise RetriableDeliveryError(f"agency busy: {size} earlier deliveries still unanswered", agency=agency_id)
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the waiting worker as it is
            outcome["error"] = exc
        finally:
            finished.set()

    context = contextvars.copy_context()  # keeps structlog's bound context in the log lines
    calls.run(lambda: context.run(run))
    if not finished.wait(timeout):
        raise UncertainDeliveryError(
            f"no answer from the agency within {timeout:g} s; it may have received the request", agency=agency_id
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
