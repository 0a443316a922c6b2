"""Shadow mode: an agency's new endpoint receives copies of its live handoffs while the manual queue decides.

`tawasul-hub agencies onboard AGENCY --shadow` stores a shadow adapter beside the agency's manual one
(broker.agency_adapters). Every scheduler then copies each new handoff of the agency (and, with
`--open`, those open when shadow mode began) to the endpoint, in a thread per agency so a slow
endpoint holds up nothing else, and reads back what it says (its polls, or its calls to the agency
API, which broker.api.agency diverts here). All of it is written to `shadow_copies` and
`shadow_messages` only: a copy never changes a handoff's state, its deadlines or the events the
national system reads. broker.shadow_report compares it with what the officers recorded.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.base import Adapter
from adapters.errors import DeliveryError, InboundError, PermanentDeliveryError
from broker import agency_adapters
from broker.envelopes import conversations, envelope
from broker.hub import Hub
from broker.ids import new_id
from broker.lifecycle import OPEN
from broker.retry import backoff
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff
from broker.store.tables import cases, handoffs, shadow_copies, shadow_messages
from schemas import AgencyMessage, PollItem, Receipt

log = structlog.get_logger(__name__)

TICK_SECONDS = 1.0
"""How often the scheduler looks for copies to send and answers to read."""
BATCH = 50
"""Copies sent, or polled, per agency and pass."""


class CopyState(StrEnum):
    """Where a shadow copy is."""

    pending = "pending"
    sent = "sent"
    refused = "refused"
    failed = "failed"


def enlist(hub: Hub, agency_id: str, since: datetime, include_open: bool) -> int:
    """Give every live handoff of the agency not copied yet a pending copy; returns how many."""
    h = handoffs.c
    live = h.created_at >= since
    if include_open:
        live = or_(live, h.state.in_(sorted(OPEN)))
    copied = select(shadow_copies.c.handoff_id).where(shadow_copies.c.agency_id == agency_id)
    query = select(h.id).where(h.agency_id == agency_id, h.manual.is_(True), live, h.id.not_in(copied)).limit(BATCH)
    at = now()
    with transaction(hub.engine) as conn:
        ids = list(conn.execute(query).scalars())
        rows = [
            {"handoff_id": i, "agency_id": agency_id, "state": CopyState.pending.value, "attempts": 0}
            | {"next_attempt_at": at, "created_at": at, "updated_at": at}
            for i in ids
        ]
        if rows:
            conn.execute(_insert_new(conn, shadow_copies), rows)
    return len(ids)


def _insert_new(conn: Connection, table: Any) -> Any:
    """An INSERT that skips rows already there (a twin scheduler may have written them first)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def send_due(hub: Hub, agency_id: str, adapter: Adapter) -> int:
    """Send the agency's due copies through its shadow adapter; returns how many were tried."""
    at = now()
    query = (
        select(shadow_copies.c.handoff_id, shadow_copies.c.attempts)
        .where(shadow_copies.c.agency_id == agency_id, shadow_copies.c.next_attempt_at <= at)
        .order_by(shadow_copies.c.next_attempt_at, shadow_copies.c.handoff_id)
        .limit(BATCH)
    )
    with hub.engine.connect() as conn:
        due = conn.execute(query).all()
    tried = 0
    for row in due:
        if _claim(hub, row.handoff_id, row.attempts):
            _send(hub, row.handoff_id, row.attempts + 1, adapter)
            tried += 1
    return tried


def _claim(hub: Hub, handoff_id: str, attempts: int) -> bool:
    """Take one copy for this pass (a twin scheduler that read the same row finds it taken)."""
    lease = now() + timedelta(seconds=hub.settings.lease_seconds)
    with transaction(hub.engine) as conn:
        taken = conn.execute(
            update(shadow_copies)
            .where(shadow_copies.c.handoff_id == handoff_id, shadow_copies.c.attempts == attempts)
            .values(attempts=attempts + 1, next_attempt_at=lease, updated_at=now())
        ).rowcount
    return bool(taken)


def _send(hub: Hub, handoff_id: str, attempt: int, adapter: Adapter) -> None:
    with hub.engine.connect() as conn:
        row = conn.execute(
            select(handoffs, cases.c.payload)
            .join(cases, cases.c.id == handoffs.c.case_id)
            .where(handoffs.c.id == handoff_id)
        ).one()
        h = Handoff.from_row(row)
        said = conversations(conn, [h.id])[h.id]
    env = envelope(hub, h, row.payload, said, attempt=attempt).model_copy(update={"agency": adapter.agency})
    values: dict[str, Any]
    try:
        receipt = adapter.deliver(env)
    except Exception as exc:
        error = adapter.classify(exc) or DeliveryError(f"adapter error: {type(exc).__name__}")
        values = _failed(hub, error, attempt)
        log.warning("shadow.copy_failed", handoff=handoff_id, agency=h.agency_id, error=str(error))
    else:
        values = _sent(receipt)
        log.info("shadow.copy_sent", handoff=handoff_id, agency=h.agency_id, ticket=receipt.agency_reference)
    with transaction(hub.engine) as conn:
        conn.execute(
            update(shadow_copies).where(shadow_copies.c.handoff_id == handoff_id).values(**values, updated_at=now())
        )


def _sent(receipt: Receipt) -> dict[str, Any]:
    at = now()
    return {
        "state": CopyState.sent.value,
        "agency_reference": receipt.agency_reference,
        "error": None,
        "next_attempt_at": None,
        "sent_at": at,
    }


def _failed(hub: Hub, error: DeliveryError, attempt: int) -> dict[str, Any]:
    """Refused for good, given up after the hub's attempts, or tried again later."""
    s = hub.settings
    if isinstance(error, PermanentDeliveryError):
        return {"state": CopyState.refused.value, "error": str(error)[:1000], "next_attempt_at": None}
    if attempt >= s.max_attempts:
        return {"state": CopyState.failed.value, "error": str(error)[:1000], "next_attempt_at": None}
    delay = backoff(attempt, s.backoff_base, s.backoff_cap, getattr(error, "retry_after", None))
    again = now() + timedelta(seconds=delay)
    return {"state": CopyState.pending.value, "error": str(error)[:1000], "next_attempt_at": again}


def poll_copies(hub: Hub, agency_id: str, adapter: Adapter) -> int:
    """Ask the endpoint about its copies not answered yet; returns how many messages were new."""
    answered = select(shadow_messages.c.handoff_id).where(
        shadow_messages.c.agency_id == agency_id, shadow_messages.c.kind == "answered"
    )
    query = (
        select(shadow_copies.c.handoff_id, shadow_copies.c.agency_reference)
        .where(
            shadow_copies.c.agency_id == agency_id,
            shadow_copies.c.state == CopyState.sent.value,
            shadow_copies.c.handoff_id.not_in(answered),
        )
        .order_by(shadow_copies.c.handoff_id)
        .limit(BATCH)
    )
    with hub.engine.connect() as conn:
        items = [
            PollItem(handoff_id=r.handoff_id, agency_reference=r.agency_reference, state="delivered")
            for r in conn.execute(query)
        ]
    if not items:
        return 0
    asked = {item.handoff_id for item in items}
    return sum(
        record(hub, agency_id, m.handoff, m, source=f"{adapter.kind}-poll", dedup_key=m.dedup_key)
        for m in adapter.poll(items)
        if m.handoff in asked
    )


def record(
    hub: Hub, agency_id: str, handoff_id: str | None, message: AgencyMessage, *, source: str, dedup_key: str
) -> bool:
    """Keep what the endpoint said about a copy, once per `dedup_key`; True if it was new."""
    if handoff_id is None:
        return False
    row = {
        "id": new_id("s"),
        "handoff_id": handoff_id,
        "agency_id": agency_id,
        "kind": message.kind.value,
        "text": message.text,
        "agency_reference": message.agency_reference,
        "source": source,
        "dedup_key": dedup_key,
        "received_at": now(),
    }
    with transaction(hub.engine) as conn:
        known = conn.execute(
            select(shadow_messages.c.id).where(
                and_(shadow_messages.c.handoff_id == handoff_id, shadow_messages.c.dedup_key == dedup_key)
            )
        ).first()
        if known is not None:
            return False
        conn.execute(_insert_new(conn, shadow_messages), [row])
    log.info("shadow.message", handoff=handoff_id, agency=agency_id, kind=message.kind.value, source=source)
    return True


def in_shadow(hub: Hub, agency_id: str, *, sure: bool = False) -> bool:
    """Whether the agency is in shadow mode: still manual, with a shadow adapter beside it.

    `sure`: for a manual agency, ask the store now rather than trust a directory up to
    REFRESH_SECONDS old (the agency API: a message must not land on the wrong side of a switch).
    """
    d = hub.directory
    if sure and agency_id in d.agencies and d.adapter(agency_id).capabilities.manual:
        d = hub.refresh_directory()
    return agency_id in d.agencies and d.shadow(agency_id) is not None and d.adapter(agency_id).capabilities.manual


def run_pass(hub: Hub, agency_id: str) -> None:
    """One shadow pass for one agency: copy what is new, send what is due, read what the endpoint says."""
    adapter = hub.directory.shadow(agency_id)
    with hub.engine.connect() as conn:
        override = agency_adapters.read(conn, agency_id)
    if adapter is None or override is None or override.shadow is None:
        return
    since = datetime.fromisoformat(override.shadow["since"])
    enlist(hub, agency_id, since, bool(override.shadow.get("open")))
    send_due(hub, agency_id, adapter)
    if adapter.capabilities.status_poll:
        poll_copies(hub, agency_id, adapter)


_running: set[tuple[int, str]] = set()
_lock = threading.Lock()


def run_scheduled(hub: Hub) -> list[threading.Thread]:
    """Start a pass for each agency in shadow mode, one thread each, at most one at a time per agency."""
    started = []
    for agency_id in hub.directory.agencies:
        if not in_shadow(hub, agency_id):
            continue
        key = (id(hub), agency_id)
        with _lock:
            if key in _running:
                continue
            _running.add(key)
        thread = threading.Thread(target=_run, args=(hub, agency_id, key), name=f"shadow-{agency_id}", daemon=True)
        thread.start()
        started.append(thread)
    return started


def _run(hub: Hub, agency_id: str, key: tuple[int, str]) -> None:
    try:
        run_pass(hub, agency_id)
    except InboundError as exc:
        log.warning("shadow.read_failed", agency=agency_id, error=str(exc))
    except Exception:
        log.exception("shadow.pass_crashed", agency=agency_id)
    finally:
        with _lock:
            _running.discard(key)
