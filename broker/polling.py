"""Status polling: agencies that cannot call back are asked about their open handoffs on a schedule.

Each change the agency reports is recorded once: its de-duplication key is the agency's status
code and ticket id, so a second scheduler polling at the same moment, or the next pass seeing the
same status, has no effect.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters.base import PollItem
from broker.errors import InvalidTransition, NotFound
from broker.hub import Hub
from broker.messages import record_message
from broker.scheduler import PERIODIC, Periodic
from broker.store.tables import handoffs
from schemas import AgencyMessage, HandoffState

log = structlog.get_logger(__name__)

POLLED_STATES = (HandoffState.delivered.value, HandoffState.acknowledged.value)
"""Handoffs the agency holds and has not answered yet."""
BATCH = 200
"""Handoffs per agency per pass; the next pass goes on from where this one stopped."""
TICK_SECONDS = 2.0
"""How often the job looks for agencies due a poll (each agency sets its own interval)."""


@dataclass
class _State:
    """One hub's polling bookkeeping in this process: when each agency was polled, where its pass stopped."""

    last: dict[str, float] = field(default_factory=dict)
    cursor: dict[str, str] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)


_lock = threading.Lock()
_states: dict[int, tuple[weakref.ref[Hub], _State]] = {}


def _state(hub: Hub) -> _State:
    with _lock:
        entry = _states.get(id(hub))
        if entry is None or entry[0]() is not hub:  # a new hub at a recycled id starts afresh
            entry = (weakref.ref(hub), _State())
            _states[id(hub)] = entry
        return entry[1]


def poll_agencies(hub: Hub, *, due_only: bool = True) -> list[threading.Thread]:
    """Start polling every agency whose adapter polls and whose interval has passed; returns the threads.

    Each agency is polled in its own thread, at most one pass at a time per agency, so a slow
    agency holds up neither the scheduler loop (and its relay) nor the other agencies.
    """
    state = _state(hub)
    started = []
    for agency_id in hub.directory.agencies:
        adapter = hub.directory.adapter(agency_id)
        if not adapter.capabilities.polling:
            continue
        interval = adapter.poll_interval
        with _lock:
            since = time.monotonic() - state.last.get(agency_id, float("-inf"))
            if agency_id in state.running or (due_only and since < interval):
                continue
            state.last[agency_id] = time.monotonic()
            state.running.add(agency_id)
        thread = threading.Thread(target=_pass, args=(hub, agency_id, state), name=f"poll-{agency_id}", daemon=True)
        thread.start()
        started.append(thread)
    return started


def _pass(hub: Hub, agency_id: str, state: _State) -> None:
    try:
        poll_agency(hub, agency_id)
    except Exception:
        log.exception("polling.pass_failed", agency=agency_id)
    finally:
        with _lock:
            state.running.discard(agency_id)


def poll_agency(hub: Hub, agency_id: str) -> int:
    """Ask one agency about up to BATCH of its open handoffs and record what changed."""
    adapter = hub.directory.adapter(agency_id)
    state = _state(hub)
    items = _items(hub, agency_id, state.cursor.get(agency_id, ""))
    with _lock:
        state.cursor[agency_id] = items[-1].handoff_id if len(items) == BATCH else ""
    if not items:
        return 0
    recorded = 0
    for message in adapter.poll(items):
        if message.handoff is not None and _record(hub, agency_id, f"{adapter.kind}-poll", message):
            recorded += 1
    log.info("polling.pass", agency=agency_id, handoffs=len(items), recorded=recorded)
    return recorded


def _items(hub: Hub, agency_id: str, after: str) -> list[PollItem]:
    query = (
        select(handoffs.c.id, handoffs.c.agency_reference, handoffs.c.state)
        .where(handoffs.c.agency_id == agency_id, handoffs.c.state.in_(POLLED_STATES), handoffs.c.id > after)
        .order_by(handoffs.c.id)
        .limit(BATCH)
    )
    with hub.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [PollItem(handoff_id=r.id, agency_reference=r.agency_reference, state=r.state) for r in rows]


def _record(hub: Hub, agency_id: str, source: str, message: AgencyMessage) -> bool:
    """Record one polled message; a repeat, a twin's race or a move the handoff no longer allows is skipped."""
    assert message.handoff is not None
    code = getattr(message, "status_code", message.kind.value)
    key = f"poll:{code}:{message.agency_reference or message.handoff}"
    try:
        done = record_message(
            hub.engine,
            hub.directory,
            message.handoff,
            message,
            source=source,
            actor=f"agency:{agency_id}",
            agency_id=agency_id,
            idempotency_key=key,
        )
    except IntegrityError:
        return False  # another scheduler recorded the same change a moment ago
    except (InvalidTransition, NotFound) as exc:
        log.info("polling.skipped", agency=agency_id, handoff=message.handoff, reason=str(exc))
        return False
    return not done.duplicate


PERIODIC.append(Periodic(name="agency-polling", every=TICK_SECONDS, run=poll_agencies))
