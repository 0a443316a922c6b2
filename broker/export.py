"""Exports for the national archive: one case's audit trail, and every case of a period, streamed.

Cases are read a page at a time in (received, id) order through `ix_cases_created_at`, each page
on a connection of its own, so an export of years holds one page in memory and no long
transaction. Records are plain JSON-ready dicts; broker.cli.export writes them as JSON Lines or CSV.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, select, true, tuple_

from broker import events
from broker.store.cases import find_case_id
from broker.store.tables import agency_messages, cases, handoffs
from broker.store.tables import events as events_table

PAGE = 500
"""Cases read per query."""

TRAIL_FIELDS = ("case", "reference", "event", "created_at", "type", "handoff", "actor", "data")
"""The columns of a trail in CSV, in order."""

CASE_FIELDS = (
    "id",
    "reference",
    "kind",
    "category",
    "state",
    "channel",
    "language",
    "submitted_at",
    "received_at",
    "updated_at",
    "anonymised_at",
    "governorate",
    "subject",
    "description",
    "citizen_name",
    "citizen_cpr",
    "citizen_email",
    "citizen_mobile",
    "attachments",
    "agencies",
    "handoff_states",
    "messages",
    "events",
)
"""The columns of a case in CSV: one line per case (the JSON Lines form carries everything)."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def trail(conn: Connection, case: str) -> Iterator[dict[str, Any]]:
    """Every event of one case (by id or national reference), oldest first; NotFound if there is none."""
    case_id = find_case_id(conn, case)
    for e in events.for_case(conn, case_id):
        yield {
            "case": e.case,
            "reference": e.reference,
            "event": e.id,
            "created_at": e.created_at.isoformat(),
            "type": e.type,
            "handoff": e.handoff,
            "actor": e.actor,
            "data": e.data,
        }


def period(zone: tzinfo, start: date | None, end: date | None) -> ColumnElement[bool]:
    """Cases received from local day `start` to local day `end`, both included (either may be open)."""
    bounds = []
    if start is not None:
        bounds.append(cases.c.created_at >= datetime.combine(start, time(), zone))
    if end is not None:
        bounds.append(cases.c.created_at < datetime.combine(end + timedelta(days=1), time(), zone))
    return and_(true(), *bounds)


def count_cases(engine: Engine, within: ColumnElement[bool]) -> int:
    """How many cases an export of `within` will write (for its progress bar)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases).where(within)).scalar_one())


def cases_within(engine: Engine, within: ColumnElement[bool], page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every case of the period with its handoffs, agency messages and events, in the order received."""
    after: tuple[datetime, str] | None = None
    while True:
        query = select(cases).where(within).order_by(cases.c.created_at, cases.c.id).limit(page)
        if after is not None:
            query = query.where(tuple_(cases.c.created_at, cases.c.id) > after)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
            records = _records(conn, rows)
        yield from records
        if len(rows) < page:
            return
        after = (rows[-1].created_at, rows[-1].id)


def _records(conn: Connection, rows: Any) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    if not ids:
        return []
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for h in conn.execute(select(handoffs).where(handoffs.c.case_id.in_(ids)).order_by(handoffs.c.id)):
        by_case[h.case_id].append(
            {
                "id": h.id,
                "agency": h.agency_id,
                "adapter": h.adapter,
                "state": h.state,
                "overdue": h.overdue,
                "escalation_level": h.escalation_level,
                "attempts": h.attempts,
                "agency_reference": h.agency_reference,
                "transferred_from": h.transferred_from,
                "created_at": _iso(h.created_at),
                "acknowledged_at": _iso(h.acknowledged_at),
                "answer_due_at": _iso(h.answer_due_at),
                "answered_at": _iso(h.answered_at),
            }
        )
    messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    query = (
        select(agency_messages, handoffs.c.case_id)
        .join(handoffs, handoffs.c.id == agency_messages.c.handoff_id)
        .where(handoffs.c.case_id.in_(ids))
        .order_by(agency_messages.c.created_at, agency_messages.c.id)
    )
    for m in conn.execute(query):
        messages[m.case_id].append(
            {
                "id": m.id,
                "handoff": m.handoff_id,
                "kind": m.kind,
                "text": m.text,
                "agency_reference": m.agency_reference,
                "source": m.source,
                "actor": m.actor,
                "sent_at": _iso(m.sent_at),
                "created_at": _iso(m.created_at),
            }
        )
    trail: dict[str, list[dict[str, Any]]] = defaultdict(list)
    e = events_table.c
    for ev in conn.execute(select(events_table).where(e.case_id.in_(ids)).order_by(e.id)):
        trail[ev.case_id].append(
            {
                "id": ev.id,
                "position": ev.position,
                "type": ev.type,
                "handoff": ev.handoff_id,
                "actor": ev.actor,
                "data": ev.data,
                "created_at": _iso(ev.created_at),
            }
        )
    return [
        {
            "id": r.id,
            "reference": r.reference,
            "kind": r.kind,
            "category": r.category,
            "state": r.state,
            "received_at": _iso(r.created_at),
            "updated_at": _iso(r.updated_at),
            "anonymised_at": _iso(r.anonymised_at),
            "case": r.payload,
            "handoffs": by_case[r.id],
            "messages": messages[r.id],
            "events": trail[r.id],
        }
        for r in rows
    ]


def case_line(record: dict[str, Any]) -> dict[str, Any]:
    """One case record flattened to the CSV columns (CASE_FIELDS)."""
    case = record["case"]
    citizen = case.get("citizen") or {}
    location = case.get("location") or {}
    return {
        **{k: record[k] for k in ("id", "reference", "kind", "category", "state", "received_at", "updated_at")},
        "anonymised_at": record["anonymised_at"],
        "channel": case.get("channel"),
        "language": case.get("language"),
        "submitted_at": case.get("submitted_at"),
        "governorate": location.get("governorate"),
        "subject": case.get("subject"),
        "description": case.get("description"),
        **{f"citizen_{k}": citizen.get(k) for k in ("name", "cpr", "email", "mobile")},
        "attachments": len(case.get("attachments") or []),
        "agencies": " ".join(h["agency"] for h in record["handoffs"]),
        "handoff_states": " ".join(h["state"] for h in record["handoffs"]),
        "messages": len(record["messages"]),
        "events": len(record["events"]),
    }


def trail_line(record: dict[str, Any]) -> dict[str, Any]:
    """One trail record for CSV: the event's data as a JSON text."""
    return {**record, "data": json.dumps(record["data"], ensure_ascii=False, sort_keys=True)}
