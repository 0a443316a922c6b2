"""What agencies say through their adapters: status polls and inbox streams, each change taken once.

Two shapes, one path. Polling asks an agency about its open handoffs; an inbox (a mailbox, say) is
read as a stream from a cursor. Both cursors live in the `cursors` table, so a restart neither
repeats nor skips anything; each message carries the key of the agency's own change, recorded
with it, so the same change read twice is taken once and the same status reached in a later round
is taken again. A message from a stream names its handoff by a reply token the hub signed, or by
the transport id of something the hub sent; what names none, or whose token does not verify, goes
to the central office's review list, never to a guessed handoff. An inbox cursor moves, and the
adapter flags or moves what it read, only after what it read is committed.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from adapters.errors import InboundError
from broker import events, follow_ons, followup, reply_tokens
from broker.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from broker.hub import Hub
from broker.ids import new_id
from broker.lifecycle import POLLED, next_handoff_state
from broker.messages import Recorded, Sender, record_message
from broker.store.engine import now, transaction
from broker.store.handoffs import load, update_handoff
from broker.store.tables import cursors, handoffs, inbound_files, inbound_log, sent_messages
from broker.store.tables import follow_ons as follow_ons_table
from schemas import (
    AgencyMessage,
    Attachment,
    FollowupReason,
    Inbound,
    InboundFile,
    MessageKind,
    Notice,
    PollItem,
    Unmatched,
)

log = structlog.get_logger(__name__)

BATCH = 200
"""Handoffs per agency per poll pass; the next pass goes on from where this one stopped."""
TICK_SECONDS = 2.0
"""How often the job looks for agencies due a read (each agency sets its own interval)."""


# --- durable cursors -----------------------------------------------------------------------------


def read_cursor(engine: Engine, name: str) -> str | None:
    """A stored cursor's value (None before the first read)."""
    with engine.connect() as conn:
        return conn.execute(select(cursors.c.value).where(cursors.c.name == name)).scalar()


def write_cursor(conn: Connection, name: str, value: str | None) -> None:
    """Store a cursor in the caller's transaction (two readers storing at once: the last one wins)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    row = {"name": name, "position": 0, "attempts": 0, "value": value}
    conn.execute(
        dialect.insert(cursors).values(row).on_conflict_do_update(index_elements=["name"], set_={"value": value})
    )


# --- the periodic job ----------------------------------------------------------------------------


@dataclass
class _Timers:
    """When each agency was last read in this process, and which reads are running (timing only)."""

    last: dict[str, float] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)


_lock = threading.Lock()
_timers: dict[int, tuple[weakref.ref[Hub], _Timers]] = {}


def _timers_of(hub: Hub) -> _Timers:
    with _lock:
        entry = _timers.get(id(hub))
        if entry is None or entry[0]() is not hub:  # a new hub at a recycled id starts afresh
            entry = (weakref.ref(hub), _Timers())
            _timers[id(hub)] = entry
        return entry[1]


def read_agencies(hub: Hub, *, due_only: bool = True) -> list[threading.Thread]:
    """Start reading every agency that polls or has an inbox and whose interval has passed.

    Each agency is read in its own thread, at most one read at a time per agency in this process,
    so a slow agency holds up neither the scheduler loop (and its relay) nor the other agencies.
    """
    timers = _timers_of(hub)
    started = []
    for agency_id in hub.directory.agencies:
        caps = hub.directory.adapter(agency_id).capabilities
        if not (caps.status_poll or caps.inbox):
            continue
        with _lock:
            since = time.monotonic() - timers.last.get(agency_id, float("-inf"))
            if agency_id in timers.running or (due_only and since < caps.poll_interval):
                continue
            timers.last[agency_id] = time.monotonic()
            timers.running.add(agency_id)
        thread = threading.Thread(target=_read, args=(hub, agency_id, timers), name=f"read-{agency_id}", daemon=True)
        thread.start()
        started.append(thread)
    return started


def _read(hub: Hub, agency_id: str, timers: _Timers) -> None:
    try:
        caps = hub.directory.adapter(agency_id).capabilities
        if caps.status_poll:
            poll_agency(hub, agency_id)
        if caps.inbox:
            read_inbox(hub, agency_id)
    except InboundError as exc:
        log.warning("inbound.read_failed", agency=agency_id, error=str(exc), retriable=exc.retriable)
    except Exception:
        log.exception("inbound.read_crashed", agency=agency_id)
    finally:
        with _lock:
            timers.running.discard(agency_id)


# --- polling -------------------------------------------------------------------------------------


def poll_agency(hub: Hub, agency_id: str) -> int:
    """Ask one agency about up to BATCH of its open handoffs and record what changed."""
    adapter = hub.directory.adapter(agency_id)
    name = f"poll:{agency_id}"
    after = read_cursor(hub.engine, name) or ""
    query = (
        select(handoffs.c.id, handoffs.c.agency_reference, handoffs.c.state, handoffs.c.round)
        .where(handoffs.c.agency_id == agency_id, handoffs.c.state.in_(POLLED), handoffs.c.id > after)
        .order_by(handoffs.c.id)
        .limit(BATCH)
    )
    with hub.engine.connect() as conn:
        rows = conn.execute(query).all()
    items = [PollItem(handoff_id=r.id, agency_reference=r.agency_reference, state=r.state, round=r.round) for r in rows]
    with transaction(hub.engine) as conn:
        write_cursor(conn, name, items[-1].handoff_id if len(items) == BATCH else "")
    if not items:
        return 0
    recorded = sum(_record(hub, agency_id, f"{adapter.kind}-poll", m) for m in adapter.poll(items))
    log.info("inbound.polled", agency=agency_id, handoffs=len(items), recorded=recorded)
    return recorded


# --- inboxes -------------------------------------------------------------------------------------


def read_inbox(hub: Hub, agency_id: str) -> int:
    """Read one agency's stream from its stored cursor; record, then move the cursor, then confirm."""
    adapter = hub.directory.adapter(agency_id)
    name = f"inbox:{agency_id}"
    batch = adapter.receive(read_cursor(hub.engine, name))
    source = f"{adapter.kind}-inbox"
    recorded = 0
    for message in batch.messages:
        handoff_id, why = resolve(hub, agency_id, message.handoff, message.reply_token, message.references)
        if handoff_id is None:
            _unmatched(hub.engine, agency_id, message.dedup_key, why, text=message.text)
            continue
        recorded += _record(hub, agency_id, source, replace_handoff(message, handoff_id))
    for notice in batch.notices:
        _notice(hub, agency_id, notice)
    for item in batch.unmatched:
        _unmatched(hub.engine, agency_id, item.dedup_key, item.reason, item)
    with transaction(hub.engine) as conn:
        write_cursor(conn, name, batch.cursor)
    adapter.confirm(batch)
    if batch.messages or batch.notices or batch.unmatched:
        log.info("inbound.read", agency=agency_id, recorded=recorded, notices=len(batch.notices))
    return recorded


def replace_handoff(message: Inbound, handoff_id: str) -> Inbound:
    """The message naming its resolved handoff."""
    return message.model_copy(update={"handoff": handoff_id})


def resolve(
    hub: Hub, agency_id: str, handoff: str | None, token: str | None, references: list[str]
) -> tuple[str | None, str]:
    """The handoff a message names, checked to be the agency's; or None and why not."""
    secret = hub.settings.reply_secret.get_secret_value() if hub.settings.reply_secret else None
    candidate = handoff
    if candidate is None and token:
        candidate = reply_tokens.verify(secret, token)
        if candidate is None:
            return None, "its reply token does not verify (forged, altered, or for another hub)"
    with hub.engine.connect() as conn:
        if candidate is None and references:
            candidate = conn.execute(
                select(sent_messages.c.handoff_id).where(sent_messages.c.message_id.in_(references)).limit(1)
            ).scalar()
        if candidate is None:
            return None, "it names no handoff (no reply token, no reference to what the hub sent)"
        owner = conn.execute(select(handoffs.c.agency_id).where(handoffs.c.id == candidate)).scalar()
    if owner != agency_id:
        return None, f"it names handoff {candidate}, which is not this agency's"
    return candidate, ""


def _record(hub: Hub, agency_id: str, source: str, message: Inbound) -> bool:
    """Record one inbound message; a repeat, a twin's race or a move the handoff no longer allows is skipped."""
    assert message.handoff is not None
    stored = _store_files(hub.engine, message.handoff, message.files)
    plain = AgencyMessage.model_validate(
        {**message.model_dump(include=set(AgencyMessage.model_fields)), "attachments": [*message.attachments, *stored]}
    )
    try:
        done: Recorded = record_message(
            hub.engine,
            hub.directory,
            message.handoff,
            plain,
            Sender(actor=f"agency:{agency_id}", source=source, agency_id=agency_id),
            dedup=f"in:{message.dedup_key}",
        )
    except IntegrityError:
        return False  # another scheduler recorded the same change a moment ago
    except (InvalidTransition, NotFound, Conflict, Unprocessable) as exc:
        log.info("inbound.skipped", agency=agency_id, handoff=message.handoff, reason=str(exc))
        return False
    return not done.duplicate


def _store_files(engine: Engine, handoff_id: str, files: list[InboundFile]) -> list[Attachment]:
    """Keep the bytes that came with a message; the message refers to them by name, size and hash."""
    stored = []
    for f in files:
        digest = hashlib.sha256(f.data).hexdigest()
        with transaction(engine) as conn:
            conn.execute(
                insert(inbound_files).values(
                    id=new_id("a"),
                    handoff_id=handoff_id,
                    filename=f.filename[:255],
                    content_type=f.content_type[:120],
                    size=len(f.data),
                    sha256=digest,
                    data=f.data,
                    created_at=now(),
                )
            )
        stored.append(
            Attachment(filename=f.filename[:255], content_type=f.content_type, size=len(f.data), sha256=digest)
        )
    return stored


def _logged(conn: Connection, agency_id: str, dedup_key: str) -> bool:
    found = select(inbound_log.c.id).where(inbound_log.c.agency_id == agency_id, inbound_log.c.dedup_key == dedup_key)
    return conn.execute(found).first() is not None


def _log_row(agency_id: str, dedup_key: str, disposition: str, reason: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": new_id("i"),
        "agency_id": agency_id,
        "dedup_key": dedup_key[:200],
        "disposition": disposition,
        "reason": reason,
        "sender": str(fields.get("sender") or "")[:300],
        "subject": str(fields.get("subject") or ""),
        "text": str(fields.get("text") or ""),
        "received_at": fields.get("received_at"),
        "handoff_id": fields.get("handoff_id"),
        "created_at": now(),
    }


def _unmatched(
    engine: Engine, agency_id: str, dedup_key: str, reason: str, item: Unmatched | None = None, text: str = ""
) -> None:
    """Put what names no handoff on the central office's review list, once."""
    fields = item.model_dump(exclude={"dedup_key", "reason"}) if item is not None else {"text": text}
    try:
        with transaction(engine) as conn:
            if _logged(conn, agency_id, dedup_key):
                return
            conn.execute(insert(inbound_log).values(_log_row(agency_id, dedup_key, "unmatched", reason, **fields)))
    except IntegrityError:
        return  # a twin logged it a moment ago
    log.warning("inbound.unmatched", agency=agency_id, reason=reason)


def _notice(hub: Hub, agency_id: str, notice: Notice) -> None:
    """A bounce fails the delivery it returns; an auto-reply is noted on its handoff and is not an answer."""
    handoff_id, why = resolve(hub, agency_id, notice.handoff, notice.reply_token, notice.references)
    if handoff_id is None:
        _unmatched(hub.engine, agency_id, notice.dedup_key, f"{notice.kind}: {why}", text=notice.text)
        return
    try:
        with transaction(hub.engine) as conn:
            if _logged(conn, agency_id, notice.dedup_key):
                return
            row = _log_row(
                agency_id, notice.dedup_key, notice.kind, notice.text[:500], handoff_id=handoff_id, text=notice.text
            )
            conn.execute(insert(inbound_log).values(row))
            h = load(conn, handoff_id, lock=True)
            follow_on = conn.execute(
                select(sent_messages.c.follow_on_id).where(sent_messages.c.message_id.in_(notice.references)).limit(1)
            ).scalar()
            if notice.kind == "bounce" and follow_on is not None:
                _bounced_follow_on(conn, h.id, follow_on, notice.text)
            elif notice.kind == "bounce" and h.state == "delivered":
                note = f"delivery failed (bounced): {notice.text[:300]}"
                values = {"state": next_handoff_state(h.state, "bounced").value, "last_error": notice.text[:1000]}
                values.update(followup.flag(h, FollowupReason.delivery_failed, note))
                update_handoff(conn, h.id, values, expect=h.state)
            events.append(
                conn,
                type=f"handoff.{notice.kind}",
                case_id=h.case_id,
                handoff_id=h.id,
                actor=f"agency:{agency_id}",
                agency=agency_id,
                text=notice.text[:2000],
            )
    except IntegrityError:
        return


def _bounced_follow_on(conn: Connection, handoff_id: str, follow_on_id: str, text: str) -> None:
    """A follow-on message that bounced waits for an officer to pass it on."""
    conn.execute(
        update(follow_ons_table)
        .where(follow_ons_table.c.id == follow_on_id)
        .values(state=follow_ons.FollowOnState.for_officer.value, last_error=text[:1000], updated_at=now())
    )
    h = load(conn, handoff_id)
    update_handoff(
        conn, handoff_id, followup.flag(h, FollowupReason.follow_on, f"a follow-on message bounced: {text[:300]}") or {}
    )


# --- the review list -----------------------------------------------------------------------------


def unresolved(conn: Connection, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """What came in naming no handoff, oldest first, for the central office to look at."""
    rows = conn.execute(
        select(inbound_log)
        .where(inbound_log.c.disposition == "unmatched", inbound_log.c.resolved_at.is_(None))
        .order_by(inbound_log.c.created_at)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r._mapping) for r in rows]


def settle_unmatched(
    hub: Hub, item_id: str, *, actor: str, handoff_id: str | None = None, kind: MessageKind = MessageKind.answered
) -> Recorded | None:
    """An officer attaches an unmatched item to one of its agency's handoffs (recorded as `kind`), or dismisses it.

    The message is recorded first (once: its key is the item's), then the item leaves the list.
    """
    with hub.engine.connect() as conn:
        row = conn.execute(select(inbound_log).where(inbound_log.c.id == item_id)).first()
        if row is None or row.disposition != "unmatched":
            raise NotFound(f"no unmatched item '{item_id}'")
        if row.resolved_at is not None:
            raise InvalidTransition("unmatched item", "resolved", "be settled again")
        if handoff_id is not None:
            load(conn, handoff_id, agency_id=row.agency_id)  # only a handoff of the agency it came from
    recorded = None
    if handoff_id is not None:
        message = AgencyMessage(kind=kind, text=row.text)
        sender = Sender(actor=actor, source=f"officer-matched:{row.agency_id}")
        recorded = record_message(hub.engine, hub.directory, handoff_id, message, sender, dedup=f"in:{row.dedup_key}")
    with transaction(hub.engine) as conn:
        conn.execute(
            update(inbound_log)
            .where(inbound_log.c.id == item_id, inbound_log.c.resolved_at.is_(None))
            .values(resolved_at=now(), resolved_by=actor, handoff_id=handoff_id)
        )
    return recorded
