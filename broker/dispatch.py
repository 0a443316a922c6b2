"""Delivering handoffs through their agencies' adapters, with retries kept in the database.

Each handoff is claimed (its outbox lease extended), delivered outside any transaction, and its
outcome committed with its events. A message seen twice, or for work already done, has no effect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection, select

from adapters.errors import DeliveryError, PermanentDeliveryError, RetriableDeliveryError
from broker import circuit, events, isolation, metrics, outbox
from broker.hub import Hub
from broker.lifecycle import next_handoff_state
from broker.outbox import DELIVER
from broker.retry import backoff
from broker.store.cases import move_cases
from broker.store.engine import now, transaction
from broker.store.handoffs import update_handoff, update_handoffs
from broker.store.tables import cases, handoffs
from schemas import CaseIn, Envelope, HandoffState, Receipt

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 0.5
"""Outcomes of a batch are committed at least this often, so a slow agency holds few of them."""


@dataclass
class _Job:
    handoff: dict[str, Any]
    case: CaseIn
    attempt: int
    outcome: Receipt | DeliveryError | None = None


def deliver(hub: Hub, claims: list[tuple[str, str]]) -> None:
    """Deliver the handoffs of one broker message, given as (handoff id, claim token) pairs.

    Safe to run twice: a stale token or a handoff already settled has no effect.
    """
    jobs = _claim(hub, claims)
    done: list[_Job] = []
    flushed = time.monotonic()
    for job in jobs:
        job.outcome = metrics.timed_attempt(job.handoff, _attempt, hub, job)
        done.append(job)
        if time.monotonic() - flushed > FLUSH_SECONDS:
            _settle(hub, done)
            done, flushed = [], time.monotonic()
    _settle(hub, done)


def _claim(hub: Hub, claims: list[tuple[str, str]]) -> list[_Job]:
    jobs: list[_Job] = []
    with transaction(hub.engine) as conn:
        attempts = outbox.take_many(conn, DELIVER, claims, hub.settings.lease_seconds)
        if not attempts:
            return []
        rows = conn.execute(
            select(handoffs, cases.c.payload)
            .join(cases, cases.c.id == handoffs.c.case_id)
            .where(handoffs.c.id.in_(sorted(attempts)))
        ).all()
        settled = []
        starting: dict[str, dict[str, Any]] = {}
        for row in rows:
            h = dict(row._mapping)
            payload = h.pop("payload")
            if h["state"] not in (HandoffState.pending, HandoffState.delivering):
                settled.append(h["id"])  # delivered, or failed and chased by hand: nothing to do
                continue
            attempt = attempts[h["id"]]
            starting[h["id"]] = {"state": next_handoff_state(h["state"], "start_delivery").value, "attempts": attempt}
            jobs.append(_Job(handoff=h, case=CaseIn.model_validate(payload), attempt=attempt))
        update_handoffs(conn, starting)
        outbox.done(conn, DELIVER, settled)
    return jobs


def _attempt(hub: Hub, job: _Job) -> Receipt | DeliveryError:
    h = job.handoff
    bound = log.bind(handoff=h["id"], case=h["case_id"], agency=h["agency_id"], attempt=job.attempt)
    envelope = Envelope(
        handoff_id=h["id"],
        case_id=h["case_id"],
        idempotency_key=h["id"],
        attempt=job.attempt,
        agency=hub.directory.agency(h["agency_id"]),
        case=job.case,
    )
    try:
        adapter = hub.directory.adapter(h["agency_id"])
        if not adapter.remote:
            return adapter.deliver(envelope)
        return isolation.bounded(hub, h["agency_id"], lambda: adapter.deliver(envelope))
    except DeliveryError as exc:
        bound.warning("handoff.delivery_error", error=str(exc), retriable=isinstance(exc, RetriableDeliveryError))
        return exc
    except Exception as exc:  # an adapter bug must not lose the handoff: treat it as retriable
        bound.exception("handoff.adapter_crashed")
        return RetriableDeliveryError(f"adapter error: {type(exc).__name__}: {exc}")


def _settle(hub: Hub, jobs: list[_Job]) -> None:
    if not jobs:
        return
    with transaction(hub.engine) as conn:
        ids = [job.handoff["id"] for job in jobs]
        current = dict(conn.execute(select(handoffs.c.id, handoffs.c.state).where(handoffs.c.id.in_(ids))).all())
        unsettled = outbox.waiting(conn, DELIVER, ids)
        # Not `delivering` any more: settled by another worker (its outbox row is gone), or the
        # agency acknowledged from inside its answer to our push (the row is still here).
        live = [job for job in jobs if current[job.handoff["id"]] == HandoffState.delivering]
        spoke = [
            job
            for job in jobs
            if current[job.handoff["id"]] == HandoffState.acknowledged and job.handoff["id"] in unsettled
        ]
        delivered = [job for job in live + spoke if isinstance(job.outcome, Receipt)]
        _settle_delivered(hub, conn, delivered, {job.handoff["id"]: current[job.handoff["id"]] for job in delivered})
        for job in live:
            if not isinstance(job.outcome, Receipt):
                _settle_one(hub, conn, job)
        # an error after the agency acknowledged: it has the case, so there is nothing to retry
        outbox.done(conn, DELIVER, [job.handoff["id"] for job in spoke if not isinstance(job.outcome, Receipt)])


def _settle_delivered(hub: Hub, conn: Connection, jobs: list[_Job], states: dict[str, str]) -> None:
    """The common outcome, written for the whole batch at once (a few statements, not a few per handoff).

    A handoff the agency already acknowledged keeps that state; it only gains its delivery record.
    """
    if not jobs:
        return
    at = now()
    delivered = next_handoff_state(HandoffState.delivering, "delivered").value
    changes: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for job in jobs:
        h, receipt = job.handoff, job.outcome
        assert isinstance(receipt, Receipt)
        if hub.directory.adapter(h["agency_id"]).remote:
            circuit.record(conn, hub.settings, h, receipt)
        early = states[h["id"]] != HandoffState.delivering
        values: dict[str, Any] = {"state": states[h["id"]] if early else delivered, "last_error": None}
        if receipt.agency_reference:
            values["agency_reference"] = receipt.agency_reference
        if receipt.followup and not early:
            values.update(followup=receipt.followup, followup_since=at)
        changes[h["id"]] = values
        data = {
            "agency": h["agency_id"],
            "attempt": job.attempt,
            "agency_reference": receipt.agency_reference,
            "followup": receipt.followup,
        }
        rows.append(
            {"type": "handoff.delivered", "case_id": h["case_id"], "handoff_id": h["id"], "actor": "hub", "data": data}
        )
    update_handoffs(conn, changes)
    move_cases(conn, [job.handoff["case_id"] for job in jobs], "deliver")
    events.append_many(conn, rows)
    outbox.done(conn, DELIVER, changes)
    for job in jobs:
        h = job.handoff
        log.info("handoff.delivered", handoff=h["id"], case=h["case_id"], agency=h["agency_id"])
        metrics.delivery_settled(h, "delivered")


def _settle_one(hub: Hub, conn: Connection, job: _Job) -> None:
    """A failed attempt: retry later, or give up and put the handoff on the follow-up queue."""
    s = hub.settings
    h = job.handoff
    current = HandoffState.delivering
    at = now()
    outcome = job.outcome
    circuit.record(conn, s, h, outcome)
    assert isinstance(outcome, DeliveryError)
    reason = str(outcome)
    if outcome.response_excerpt:
        reason = f"{reason}: {outcome.response_excerpt[:500]}"
    if isinstance(outcome, PermanentDeliveryError) or job.attempt >= s.max_attempts:
        why = "refused" if isinstance(outcome, PermanentDeliveryError) else f"gave up after {job.attempt} attempts"
        update_handoff(
            conn,
            h["id"],
            {
                "state": next_handoff_state(current, "fail").value,
                "last_error": reason,
                "followup": f"delivery failed ({why}): {reason}",
                "followup_since": at,
            },
        )
        events.append(
            conn,
            type="handoff.failed",
            case_id=h["case_id"],
            handoff_id=h["id"],
            actor="hub",
            agency=h["agency_id"],
            attempt=job.attempt,
            reason=reason,
        )
        outbox.done(conn, DELIVER, [h["id"]])
        log.warning("handoff.failed", handoff=h["id"], case=h["case_id"], agency=h["agency_id"], reason=reason)
        metrics.delivery_settled(h, "failed")
        return
    retry_after = outcome.retry_after if isinstance(outcome, RetriableDeliveryError) else None
    delay = backoff(job.attempt, s.backoff_base, s.backoff_cap, retry_after)
    update_handoff(conn, h["id"], {"state": next_handoff_state(current, "retry").value, "last_error": reason})
    outbox.postpone(conn, DELIVER, h["id"], delay)
    log.info("handoff.retry_scheduled", handoff=h["id"], agency=h["agency_id"], attempt=job.attempt, delay=delay)
    metrics.delivery_settled(h, "retry")
