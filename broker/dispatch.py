"""Delivering handoffs through their agencies' adapters, with retries kept in the database.

Each handoff is claimed (its outbox lease extended, with a token only this worker knows),
delivered outside any transaction, and its outcome committed with its events. The claim is
renewed while a batch runs, and an outcome is written only while the claim is still this
worker's: a duplicate or stale message has no effect, and a late failure never overwrites.
A late *success* is the truth about the agency and always wins.

A delivery that may have reached the agency (a timeout after sending, a reset, a worker killed
mid-call) is never blindly sent again: the agency is asked first when its adapter can look a case
up; it is retried when the agency recognises a repeated idempotency key; otherwise the handoff
waits as "outcome unknown" for an officer to check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection, Row, insert, select

from adapters.base import Adapter
from adapters.errors import DeliveryError, PermanentDeliveryError, RetriableDeliveryError, UncertainDeliveryError
from broker import circuit, events, followup, isolation, metrics, outbox
from broker.envelopes import SAID, conversations, envelope
from broker.errors import Conflict
from broker.hub import Hub
from broker.lifecycle import next_handoff_state
from broker.outbox import DELIVER, Taken
from broker.retry import backoff
from broker.store.cases import move_cases
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff, update_handoff, update_handoffs
from broker.store.lists import ByIds
from broker.store.tables import agency_circuits, cases, handoffs, sent_messages
from schemas import Envelope, FollowupReason, HandoffState, Receipt

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 0.5
"""Outcomes of a batch are committed at least this often, so a slow agency holds few of them."""

T = TypeVar("T")
H = HandoffState

AGENCY_FIRST = frozenset({H.acknowledged, H.answered})
"""States an agency can reach from inside its answer to a push, before the push settles."""


@dataclass
class _Job:
    h: Handoff
    envelope: Envelope
    taken: Taken
    uncertain: bool
    """An earlier attempt may have reached the agency."""
    outcome: Receipt | DeliveryError | None = None
    adopted: bool = False
    """The receipt came from asking the agency (a lookup), not from delivering again."""
    crashed: bool = False
    lost: bool = False
    """The claim went to another worker before this one got to it."""


def deliver(hub: Hub, claims: list[tuple[str, str]]) -> None:
    """Deliver the handoffs of one broker message, given as (handoff id, claim token) pairs.

    Safe to run twice: a stale token or a handoff already settled has no effect. A message of
    manual agencies only (delivery is a place on the follow-up queue: no call leaves the hub) is
    claimed, delivered and settled in one transaction. A connected agency's message is delivered one
    handoff after another, and its first handoff the agency does not take (no answer, busy, down)
    ends it: the rest are given back unattempted, so a hanging agency costs a message one delivery
    timeout, not one per handoff, and its circuit sees one failure, not a burst.
    """
    with transaction(hub.engine) as conn:
        jobs = _claim_in(hub, conn, claims)
        if jobs and all(_manual(hub, job.h.agency_id) for job in jobs):
            for job in jobs:
                _run(hub, job)
            _settle_in(hub, conn, jobs, held_here=True)
            return
    done: list[_Job] = []
    flushed = renewed = time.monotonic()
    for i, job in enumerate(jobs):
        if time.monotonic() - renewed > hub.settings.lease_seconds / 4:
            _renew(hub, jobs[i:])
            renewed = time.monotonic()
        if job.lost:
            continue  # the lease ran out anyway and the work went to another worker
        _run(hub, job)
        done.append(job)
        if isolation.unanswered(job.outcome, job.crashed):
            _give_back(hub, [later for later in jobs[i + 1 :] if not later.lost])
            break
        if time.monotonic() - flushed > FLUSH_SECONDS:
            _settle(hub, done)
            done, flushed = [], time.monotonic()
    _settle(hub, done)


def _give_back(hub: Hub, jobs: list[_Job]) -> None:
    """Due again at once as they were before this message took them, no attempt spent (see `deliver`)."""
    if not jobs:
        return
    with transaction(hub.engine) as conn:
        kept = outbox.give_back(conn, DELIVER, {job.h.id: job.taken.token for job in jobs})
        for job in jobs:
            if job.h.id in kept:
                before = {"state": job.h.state, "attempts": job.h.attempts, "uncertain": job.h.uncertain}
                with suppress(Conflict):  # someone acted on it meanwhile (an officer): theirs stands
                    update_handoff(conn, job.h.id, before, expect=H.delivering)
    log.info("handoffs.given_back", agency=jobs[0].h.agency_id, count=len(kept))


def _manual(hub: Hub, agency_id: str) -> bool:
    return agency_id in hub.directory.agencies and hub.directory.adapter(agency_id).capabilities.manual


def _run(hub: Hub, job: _Job) -> None:
    started = time.perf_counter()
    _attempt(hub, job)
    metrics.attempt_made(job.h.agency_id, job.h.adapter, job.outcome, time.perf_counter() - started)


def _claim(hub: Hub, claims: list[tuple[str, str]]) -> list[_Job]:
    with transaction(hub.engine) as conn:
        return _claim_in(hub, conn, claims)


def _claim_in(hub: Hub, conn: Connection, claims: list[tuple[str, str]]) -> list[_Job]:
    jobs: list[_Job] = []
    taken = outbox.take_many(conn, DELIVER, claims, hub.settings.lease_seconds)
    if not taken:
        return []
    rows = _CLAIMED.execute(conn, sorted(taken)).all()
    settled, starting, found, talked = [], {}, [], []
    refreshed = False
    for row in rows:
        h = Handoff.from_row(row)
        if h.state not in (H.pending, H.delivering):
            settled.append(h.id)  # delivered, or failed and chased by hand: nothing to do
            continue
        # still `delivering` when taken: the worker that started it never settled (killed, lost)
        uncertain = h.uncertain or h.state == H.delivering
        attempt = taken[h.id].attempt
        state = next_handoff_state(h.state, "start_delivery").value
        starting[h.id] = {"state": state, "attempts": attempt, "uncertain": uncertain}
        speaks = _speaks(hub, h.agency_id)
        if speaks is not None and speaks != (h.adapter, h.manual):
            if not refreshed:  # the agency was switched since: this process may not know yet
                hub.refresh_directory()
                refreshed = True
                speaks = _speaks(hub, h.agency_id)
            if speaks is not None and speaks != (h.adapter, h.manual):
                h = replace(h, adapter=speaks[0], manual=speaks[1])  # recorded as what delivers it now
                starting[h.id].update(adapter=speaks[0], manual=speaks[1])
        found.append((h, row.payload, uncertain))
        if row.said:
            talked.append(h.id)
    said = conversations(conn, talked)  # a first delivery's is empty, and not read
    for h, payload, uncertain in found:
        attempt = taken[h.id].attempt
        env = envelope(hub, h, payload, said[h.id], attempt=attempt)
        jobs.append(_Job(h, env, taken[h.id], uncertain))
    update_handoffs(conn, starting)
    outbox.done(conn, DELIVER, settled)
    return jobs


def _speaks(hub: Hub, agency_id: str) -> tuple[str, bool] | None:
    """The adapter kind the agency delivers through now, and whether it is manual (None: unknown agency)."""
    if agency_id not in hub.directory.agencies:
        return None
    return hub.directory.agency(agency_id).adapter.kind, hub.directory.adapter(agency_id).capabilities.manual


def _renew(hub: Hub, jobs: list[_Job]) -> None:
    """Keep the claims of the batch's jobs still to run, so no other worker is sent them meanwhile."""
    with transaction(hub.engine) as conn:
        kept = outbox.renew(conn, DELIVER, {job.h.id: job.taken.token for job in jobs}, hub.settings.lease_seconds)
    for job in jobs:
        job.lost = job.h.id not in kept


def _call(hub: Hub, adapter: Adapter, agency_id: str, call: Callable[[], T]) -> T:
    if adapter.capabilities.manual:
        return call()
    return isolation.bounded(hub, agency_id, call)


def _attempt(hub: Hub, job: _Job) -> None:
    h = job.h
    bound = log.bind(handoff=h.id, case=h.case_id, agency=h.agency_id, attempt=job.taken.attempt)
    adapter = hub.directory.adapter(h.agency_id)
    caps = adapter.capabilities
    env = job.envelope
    try:
        if job.uncertain and not caps.manual:
            if caps.lookup:
                found = _call(hub, adapter, h.agency_id, lambda: adapter.lookup(env))
                if found is not None:
                    job.outcome, job.adopted = found, True
                    return
            elif not caps.idempotent:
                job.outcome = UncertainDeliveryError(
                    "an earlier attempt may have reached the agency, which can neither be asked nor recognises "
                    "a repeated delivery"
                )
                return
        job.outcome = _call(hub, adapter, h.agency_id, lambda: adapter.deliver(env))
    except Exception as exc:
        classified = adapter.classify(exc)
        if classified is None:  # an adapter bug must not lose the handoff, nor count against the agency
            bound.exception("handoff.adapter_crashed")
            job.crashed = True
            classified = RetriableDeliveryError(f"adapter error: {type(exc).__name__}")
        bound.warning("handoff.delivery_error", error=str(classified), outcome=type(classified).__name__)
        job.outcome = classified


def _settle(hub: Hub, jobs: list[_Job]) -> None:
    if not jobs:
        return
    with transaction(hub.engine) as conn:
        _settle_in(hub, conn, jobs, held_here=False)


def _settle_in(hub: Hub, conn: Connection, jobs: list[_Job], *, held_here: bool) -> None:
    """Write the outcomes; `held_here`: claimed in this very transaction, so the claims and work are ours."""
    ids = [job.h.id for job in jobs]
    finished: set[str] = set()
    if held_here:
        held = waiting = set(ids)
    else:
        claims = {job.h.id: job.taken.token for job in jobs}
        # a receipt ends its delivery work whatever it turns out to write: its outbox row goes at once,
        # and the rows removed are the ones still held (one statement where reading them and removing
        # them took two); only the other outcomes, and claims gone stale, are read as before
        finished = outbox.finish(conn, DELIVER, {job.h.id: claims[job.h.id] for job in jobs if _receipt(job)})
        rest = {ref: token for ref, token in claims.items() if ref not in finished}
        held, waiting = outbox.holding_and_waiting(conn, DELIVER, rest)
        held, waiting = held | finished, waiting | finished
    locked = {row.id: row for row in _LOCK_HANDOFFS.execute(conn, ids)}
    current = {handoff_id: Handoff.from_row(row) for handoff_id, row in locked.items()}
    delivered = [job for job in jobs if _receipt(job) and _receipt_applies(current[job.h.id], job.h.id in waiting)]
    _settle_delivered(hub, conn, delivered, current, locked, finished)
    written = {job.h.id for job in delivered}
    for job in jobs:
        h = current[job.h.id]
        if job.h.id in written or job.h.id not in held:
            continue  # written above; or a stale worker's outcome, never written
        if h.state == H.delivering:
            _settle_failed(hub, conn, job, h)
        elif h.state != H.pending:
            # moved on meanwhile (the agency took the case from inside its answer to this push,
            # or an officer acted): the delivery work is over. Left claimed, it would count
            # against the agency's deliveries in flight until its lease ran out.
            outbox.done(conn, DELIVER, {h.id} - finished)


def _receipt(job: _Job) -> bool:
    return isinstance(job.outcome, Receipt)


def _receipt_applies(h: Handoff, waiting: bool) -> bool:
    """A receipt is written unless the handoff already moved on; a late one beats a failure by the hub.

    An acknowledged (or answered) handoff whose delivery work still waits was acknowledged (and
    answered) from inside the agency's answer to this very push: it gains its delivery record.
    """
    if h.state in (H.pending, H.delivering, H.outcome_unknown):
        return True
    if h.state in AGENCY_FIRST:
        return waiting
    return h.state == H.failed and h.followup_reason == FollowupReason.delivery_failed


def _settle_delivered(
    hub: Hub,
    conn: Connection,
    jobs: list[_Job],
    current: dict[str, Handoff],
    locked: dict[str, Row[Any]],
    finished: set[str],
) -> None:
    """The common outcome, written for the whole batch at once (a few statements, not a few per handoff).

    A handoff the agency already acknowledged (or answered) keeps its state; it only gains its delivery record.
    `locked`: the handoffs' rows as locked, with their case's state and their agency's breaker;
    `finished`: those whose outbox work is removed already.
    """
    if not jobs:
        return
    changes: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    for job in jobs:
        h, receipt = current[job.h.id], job.outcome
        assert isinstance(receipt, Receipt)
        glance = locked[h.id]
        if not h.manual and not circuit.untroubled(glance.circuit_state, glance.circuit_failures):
            circuit.record(conn, hub.settings, h.agency_id, receipt)
        early = h.state in AGENCY_FIRST
        values: dict[str, Any] = {"last_error": None, "uncertain": False}
        if not early:
            values["state"] = next_handoff_state(h.state, "receipt").value
        if receipt.agency_reference:
            values["agency_reference"] = receipt.agency_reference
        settled = (FollowupReason.circuit_open, FollowupReason.delivery_failed, FollowupReason.outcome_unknown)
        values.update(followup.cleared(conn, h, *settled, state=values.get("state")))
        if h.manual and not early and "followup_reason" not in values:
            values.update(followup.flag(h, FollowupReason.manual, followup.manual_note()))
        changes[h.id] = values
        data = {"agency": h.agency_id, "attempt": job.taken.attempt, "agency_reference": receipt.agency_reference}
        if job.adopted:
            data["adopted"] = True  # the agency had it already: found by asking, not sent again
        rows.append(
            {"type": "handoff.delivered", "case_id": h.case_id, "handoff_id": h.id, "actor": "hub", "data": data}
        )
        if receipt.message_id:
            sent.append({"message_id": receipt.message_id, "handoff_id": h.id, "created_at": now()})
    update_handoffs(conn, changes)
    case_states = {row.case_id: row.case_state for row in locked.values()}
    move_cases(conn, [job.h.case_id for job in jobs], "deliver", states=case_states)
    events.append_many(conn, rows)
    if sent:
        conn.execute(insert(sent_messages), sent)
    outbox.done(conn, DELIVER, changes.keys() - finished)
    for job in jobs:
        log.info("handoff.delivered", handoff=job.h.id, case=job.h.case_id, agency=job.h.agency_id, adopted=job.adopted)
        metrics.delivery_settled(job.h.agency_id, job.h.adapter, "delivered", job.h.created_at)


def _settle_failed(hub: Hub, conn: Connection, job: _Job, h: Handoff) -> None:
    """A failed attempt: retry later, wait for an officer to check, or give up to the follow-up queue."""
    s = hub.settings
    outcome = job.outcome
    assert isinstance(outcome, DeliveryError)
    if not (h.manual or job.crashed):
        circuit.record(conn, s, h.agency_id, outcome)
    reason = str(outcome)
    last_error = f"{reason}: {outcome.response_excerpt[:500]}" if outcome.response_excerpt else reason
    caps = hub.directory.adapter(h.agency_id).capabilities
    final = job.taken.attempt >= s.max_attempts
    if isinstance(outcome, UncertainDeliveryError):
        if final or not (caps.lookup or caps.idempotent):
            _outcome_unknown(conn, h, job, reason, last_error)
            return
        _retry(hub, conn, h, job, last_error, uncertain=True)
        return
    if isinstance(outcome, PermanentDeliveryError) or final:
        why = (
            "refused" if isinstance(outcome, PermanentDeliveryError) else f"gave up after {job.taken.attempt} attempts"
        )
        note = f"delivery failed ({why}): {reason}"
        _stop(conn, h, job, "fail", FollowupReason.delivery_failed, note, reason, last_error)
        return
    _retry(hub, conn, h, job, last_error, uncertain=job.uncertain)


def _retry(hub: Hub, conn: Connection, h: Handoff, job: _Job, last_error: str, *, uncertain: bool) -> None:
    s = hub.settings
    outcome = job.outcome
    retry_after = outcome.retry_after if isinstance(outcome, RetriableDeliveryError) else None
    delay = backoff(job.taken.attempt, s.backoff_base, s.backoff_cap, retry_after)
    values = {"state": next_handoff_state(h.state, "retry").value, "last_error": last_error, "uncertain": uncertain}
    update_handoff(conn, h.id, values, expect=H.delivering)
    outbox.postpone(conn, DELIVER, h.id, delay)
    log.info("handoff.retry_scheduled", handoff=h.id, agency=h.agency_id, attempt=job.taken.attempt, delay=delay)
    metrics.delivery_settled(h.agency_id, h.adapter, "retry", h.created_at)


def _outcome_unknown(conn: Connection, h: Handoff, job: _Job, reason: str, last_error: str) -> None:
    """The agency may have the case and cannot be asked: an officer checks before anything is sent again."""
    note = (
        f"the agency may already have this case ({reason}): ask it for its reference, then "
        f"`tawasul-hub followup confirm {h.id} --reference REF` or `tawasul-hub followup resend {h.id}` / "
        "قد تكون الجهة استلمت الحالة: اسألها عن رقمها المرجعي قبل إعادة الإرسال"
    )
    _stop(conn, h, job, "uncertain", FollowupReason.outcome_unknown, note, reason, last_error)


_CLAIMED = ByIds(
    lambda these: select(handoffs, cases.c.payload, SAID).join(cases, cases.c.id == handoffs.c.case_id).where(these),
    handoffs.c.id,
)
"""The handoffs a claim took, with their case and whether anything was said on them yet (a first
delivery's conversation is not read). Built once: built per call it cost SQLAlchemy 150 µs, against 26."""

_LOCK_HANDOFFS = ByIds(
    lambda these: (
        select(
            handoffs,
            cases.c.state.label("case_state"),
            agency_circuits.c.state.label("circuit_state"),
            agency_circuits.c.consecutive_failures.label("circuit_failures"),
        )
        .join(cases, cases.c.id == handoffs.c.case_id)
        .outerjoin(agency_circuits, agency_circuits.c.agency_id == handoffs.c.agency_id)
        .where(these)
        .with_for_update(of=handoffs)
    ),
    handoffs.c.id,
)
"""The handoffs an outcome is written to, locked, with their case's state and their agency's breaker at a
glance: one statement where three were (built once, as the outbox's statements)."""
_STOPPED = {"fail": ("handoff.failed", "failed"), "uncertain": ("handoff.outcome_unknown", "outcome_unknown")}
"""Per way of stopping: its event, and its outcome in logs and metrics."""


def _stop(
    conn: Connection, h: Handoff, job: _Job, action: str, why: FollowupReason, note: str, reason: str, last_error: str
) -> None:
    """Stop delivering (`fail`, or `uncertain`): the handoff waits on the follow-up queue for an officer."""
    event, outcome = _STOPPED[action]
    values: dict[str, Any] = {"state": next_handoff_state(h.state, action).value, "last_error": last_error}
    if action == "uncertain":
        values["uncertain"] = True
    values.update(followup.flag(h, why, note))
    update_handoff(conn, h.id, values, expect=H.delivering)
    events.append(
        conn,
        type=event,
        case_id=h.case_id,
        handoff_id=h.id,
        actor="hub",
        agency=h.agency_id,
        attempt=job.taken.attempt,
        reason=reason,
    )
    outbox.done(conn, DELIVER, [h.id])
    log.warning(event, handoff=h.id, case=h.case_id, agency=h.agency_id, reason=reason)
    metrics.delivery_settled(h.agency_id, h.adapter, outcome, h.created_at)
