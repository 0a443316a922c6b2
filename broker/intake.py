"""Cases in from the national system: checked, routed and committed with their outbox work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from broker import deadlines, events, metrics, outbox
from broker.assign import handoff_row
from broker.config import Directory
from broker.errors import Conflict, Unprocessable
from broker.ids import new_id
from broker.outbox import DELIVER
from broker.routing import route
from broker.store.engine import now, transaction
from broker.store.tables import cases, handoffs
from schemas import CaseIn, CaseOut, CaseState, HandoffSummary

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Accepted:
    """The outcome of one submission: the case id and whether this call created it."""

    case_id: str
    reference: str
    created: bool
    written: CaseOut | None = None
    """The case as this call committed it (created only): the answer, without reading it back."""


def submit_cases(engine: Engine, directory: Directory, batch: list[CaseIn], actor: str) -> list[Accepted]:
    """Accept cases, each idempotent on its national reference, in one transaction.

    Everything is routed first, so a bad case leaves nothing written. A reference seen before
    returns the existing case (created=False) and writes nothing for it.
    """
    routes = []
    for index, case in enumerate(batch):
        try:
            routes.append(route(case, directory))
        except Unprocessable as exc:
            exc.context["index"] = index  # which case of a batch
            raise
    try:
        with transaction(engine) as conn:
            # new references are the rule: insert without looking first (one statement less)
            return _insert(conn, directory, batch, routes, actor, look_first=False)
    except IntegrityError:
        # A reference was submitted before (or by another request just now): run again, looking
        # first, and that reference is found and returned as it stands.
        with transaction(engine) as conn:
            return _insert(conn, directory, batch, routes, actor, look_first=True)


def _insert(
    conn: Connection, directory: Directory, batch: list[CaseIn], routes: list[list[str]], actor: str, look_first: bool
) -> list[Accepted]:
    refs = [c.reference for c in batch]
    known: dict[str, str] = {}
    sent: dict[str, Any] = {}  # reference → the payload it was accepted with (None: anonymised since)
    states: dict[str, str] = {}
    if look_first:
        rows = conn.execute(
            select(cases.c.reference, cases.c.id, cases.c.state, cases.c.payload, cases.c.anonymised_at).where(
                cases.c.reference.in_(refs)
            )
        ).all()
        known = {r.reference: r.id for r in rows}
        sent = {r.reference: (None if r.anonymised_at else r.payload) for r in rows}
        states = {r.reference: r.state for r in rows}
    at = now()
    results: list[Accepted] = []
    case_rows: list[dict[str, Any]] = []
    handoff_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for index, case in enumerate(batch):
        agencies = routes[index]
        payload = case.model_dump(mode="json")
        if case.reference in known:
            before = sent.get(case.reference)
            if before is not None and before != payload:  # L10: a retry repeats itself; this is another case
                conflict = Conflict(
                    f"reference '{case.reference}' was submitted before with different content",
                    state=states.get(case.reference, CaseState.routed.value),
                )
                conflict.context["index"] = index
                raise conflict
            results.append(Accepted(known[case.reference], case.reference, created=False))
            continue
        case_id = new_id("c")
        known[case.reference] = case_id
        sent[case.reference] = payload
        case_rows.append(
            {
                "id": case_id,
                "reference": case.reference,
                "kind": case.kind.value,
                "category": case.category,
                "state": CaseState.routed.value,
                "payload": payload,
                "created_at": at,
                "updated_at": at,
            }
        )
        routed, written = [], []
        for agency_id in agencies:
            row = handoff_row(directory, case_id, agency_id, at, case.kind.value, case.category)
            clocks = deadlines.announce(directory.sla, row["ack_due_at"], row["answer_due_at"], row["answer_allowed"])
            routed.append({"handoff": row["id"], "agency": agency_id, **clocks})
            handoff_rows.append(row)
            written.append(_summary(row))
        written.sort(key=lambda h: h.id)  # as a read-back orders them
        out = CaseOut(
            id=case_id,
            reference=case.reference,
            state=CaseState.routed,
            case=CaseIn.model_validate(payload),
            handoffs=written,
            created_at=at,
            updated_at=at,
        )
        results.append(Accepted(case_id, case.reference, created=True, written=out))
        event_rows.append(_event("case.received", case_id, actor, {"kind": case.kind.value, "category": case.category}))
        event_rows.append(_event("case.routed", case_id, "hub", {"handoffs": routed}))
    if case_rows:
        conn.execute(_NEW_CASES, case_rows)
        conn.execute(_NEW_HANDOFFS, handoff_rows)
        outbox.enqueue(conn, [(DELIVER, h["id"], h["agency_id"]) for h in handoff_rows])
        events.append_many(conn, event_rows)
        log.info("cases.accepted", count=len(case_rows), handoffs=len(handoff_rows))
        metrics.cases_received(case_rows)
    return results


_NEW_CASES = insert(cases)
_NEW_HANDOFFS = insert(handoffs)
"""Built once: a statement built per call is keyed for SQLAlchemy's cache on every execution."""


def _summary(row: dict[str, Any]) -> HandoffSummary:
    """A new handoff row as the national system reads it back."""
    return HandoffSummary(
        id=row["id"],
        agency=row["agency_id"],
        state=row["state"],
        overdue=row["overdue"],
        followup=None,
        attempts=row["attempts"],
        agency_reference=None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _event(type: str, case_id: str, actor: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": type, "case_id": case_id, "handoff_id": None, "actor": actor, "data": data}
