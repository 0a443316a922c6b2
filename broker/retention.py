"""Retention: a citizen's personal data is removed a set time after their case closed.

HUB_RETENTION_DAYS after a case closed, the citizen's name, CPR, e-mail and mobile, the address
part of the location, and the attachments' names and links leave the case; every occurrence of
those identifiers, and anything shaped like a CPR, an e-mail address or a Bahraini phone number, is
masked in every row kept about the case (HOLDINGS: its events, its handoffs' notes, the agencies'
messages). With HUB_RETENTION_FREE_TEXT the subject, the description and what people wrote
(messages, the citizen's replies, reasons) go as well. The audit trail stays: every event keeps its
type, actor and time, and a `case.anonymised` event records who, when and which kinds of data went,
never the data.

Cases are taken in batches through a partial index on closed cases not yet anonymised (FOR UPDATE
SKIP LOCKED on PostgreSQL, so two schedulers share the work), and each is anonymised once.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Column, Connection, Table, bindparam, delete, func, select, update

from broker import events
from broker.hub import Hub
from broker.logging import redact_text
from broker.store.engine import now, transaction
from broker.store.tables import (
    AWAITING_RETENTION,
    agency_messages,
    cases,
    follow_ons,
    handoffs,
    inbound_files,
    inbound_log,
    shadow_copies,
    shadow_messages,
    surveys,
)
from broker.store.tables import events as events_table

log = structlog.get_logger(__name__)

REMOVED = "[محذوف / removed]"
"""What stands where removed text was (a case must stay a valid case: the name cannot be empty)."""
MASK = "[…]"
"""What stands where an identifier was inside text that is kept."""

FREE_TEXT_KEYS = frozenset({"text", "reason", "note", "subject", "description", "reply", "original"})
"""Keys of JSON documents whose values are what people wrote: removed with free text."""

BATCH = 200
"""Cases per transaction."""
EVERY = 600.0
"""Seconds between the scheduler's retention passes."""
JOB_BATCHES = 10
"""Batches one scheduled pass takes at most, so the scheduler's relay is never held up for long."""


@dataclass(frozen=True)
class Holding:
    """One table that keeps a case's personal data: how its rows name the case, and which columns to clean.

    `link` is the table's column naming the case (`case_id`) or one of the case's handoffs
    (`handoff_id`). `texts` are text columns, `documents` JSON columns; with `purge` the rows are
    deleted instead (files the hub stored). A new table holding personal data is one more entry
    in HOLDINGS.
    """

    table: Table
    link: Column[Any]
    texts: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    purge: bool = False


HOLDINGS: list[Holding] = [
    Holding(events_table, events_table.c.case_id, documents=("data",)),
    Holding(handoffs, handoffs.c.case_id, texts=("followup", "last_error"), documents=("extension_request",)),
    Holding(agency_messages, agency_messages.c.handoff_id, texts=("text",), documents=("data",)),
    Holding(follow_ons, follow_ons.c.handoff_id, texts=("last_error",), documents=("payload",)),
    Holding(inbound_log, inbound_log.c.handoff_id, texts=("sender", "subject", "text", "reason")),
    Holding(inbound_files, inbound_files.c.handoff_id, purge=True),
    Holding(surveys, surveys.c.case_id, texts=("comment",)),
    Holding(shadow_copies, shadow_copies.c.handoff_id, texts=("error",)),
    Holding(shadow_messages, shadow_messages.c.handoff_id, texts=("text",)),
]
"""Every table beyond `cases` that keeps a case's personal data."""


@dataclass(frozen=True)
class Identifiers:
    """A citizen's identifiers as they may appear in text, longest first."""

    values: tuple[str, ...]
    pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Identifiers:
        """The name (and each longer part of it), CPR, e-mail and mobile (also without its prefix) of a case."""
        citizen = payload.get("citizen") or {}
        found = {citizen.get(k) for k in ("name", "cpr", "email", "mobile")}
        name = citizen.get("name") or ""
        found |= {part for part in re.split(r"\s+", name) if len(part) >= 3}
        mobile = citizen.get("mobile") or ""
        found |= {mobile.lstrip("+"), mobile[-8:]} if len(mobile) >= 8 else set()
        values = tuple(sorted((v for v in found if v and v != REMOVED), key=len, reverse=True))
        # whole words only: a short name must not cut into longer words
        alternatives = "|".join(re.escape(v) for v in values)
        return cls(values, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if values else None)

    def mask(self, text: str) -> str:
        """The text with each identifier, and anything shaped like one, masked."""
        if self.pattern is not None:
            text = self.pattern.sub(MASK, text)
        return redact_text(text)


def scrub(value: Any, ids: Identifiers, free_text: bool, key: str | None = None) -> Any:
    """A JSON value with identifiers masked everywhere and, with free text, people's words removed."""
    if isinstance(value, str):
        return REMOVED if free_text and key in FREE_TEXT_KEYS else ids.mask(value)
    if isinstance(value, dict):
        return {k: scrub(v, ids, free_text, k) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, ids, free_text, key) for v in value]
    return value


def anonymised_case(payload: dict[str, Any], ids: Identifiers, free_text: bool) -> dict[str, Any]:
    """The case as kept: no citizen but their language, the governorate only, attachments by type and size."""
    citizen = payload.get("citizen") or {}
    location = payload.get("location") or {}
    kept = dict(payload)
    kept["citizen"] = {"name": REMOVED, "preferred_language": citizen.get("preferred_language", "ar")}
    kept["location"] = {"governorate": location["governorate"]} if location.get("governorate") else None
    kept["attachments"] = [
        {"filename": REMOVED, "content_type": a["content_type"], "size": a["size"]}
        for a in payload.get("attachments", [])
    ]
    for key in ("subject", "description"):
        kept[key] = REMOVED if free_text else ids.mask(payload[key])
    return kept


@dataclass
class RetentionResult:
    """What one run did (or, dry, would do)."""

    closed_before: datetime
    cases: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    """Rows changed per table."""


def cutoff(hub: Hub, days: int | None = None, at: datetime | None = None) -> datetime:
    """Cases closed before this instant are due (HUB_RETENTION_DAYS unless `days` is given)."""
    days = days if days is not None else hub.settings.retention_days
    if days is None:
        raise ValueError("no retention period: set HUB_RETENTION_DAYS")
    return (at or now()) - timedelta(days=days)


def count_due(hub: Hub, before: datetime) -> int:
    """How many closed cases still hold personal data and closed before `before` (for a dry run)."""
    with hub.engine.connect() as conn:
        query = select(func.count()).select_from(cases).where(AWAITING_RETENTION, cases.c.updated_at < before)
        return int(conn.execute(query).scalar_one())


def anonymise_due(
    hub: Hub, before: datetime, actor: str, *, batch: int = BATCH, max_batches: int | None = None
) -> RetentionResult:
    """Anonymise every closed case that closed before `before`, `batch` cases per transaction."""
    free_text = hub.settings.retention_free_text
    result = RetentionResult(before)
    rounds = 0
    while max_batches is None or rounds < max_batches:
        rounds += 1
        with transaction(hub.engine) as conn:
            taken = _anonymise_batch(conn, before, actor, free_text, batch, result)
        if taken < batch:
            break
    if result.cases:
        log.info("retention.anonymised", cases=result.cases, closed_before=before.isoformat(), rows=dict(result.rows))
    return result


def _anonymise_batch(
    conn: Connection, before: datetime, actor: str, free_text: bool, batch: int, result: RetentionResult
) -> int:
    query = (
        select(cases.c.id, cases.c.payload)
        .where(AWAITING_RETENTION, cases.c.updated_at < before)
        .order_by(cases.c.updated_at)
        .limit(batch)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = {row.id: row.payload for row in conn.execute(query)}
    if not due:
        return 0
    ids = {case_id: Identifiers.of(payload) for case_id, payload in due.items()}
    changed: dict[str, Counter[str]] = {case_id: Counter() for case_id in due}
    for holding in HOLDINGS:
        _clean(conn, holding, ids, free_text, changed)
    at = now()
    conn.execute(
        update(cases).where(cases.c.id == bindparam("_id")).values(payload=bindparam("_payload"), anonymised_at=at),
        [{"_id": c, "_payload": anonymised_case(p, ids[c], free_text)} for c, p in due.items()],
    )
    kinds = ["citizen", "address", "attachments", "identifiers in texts"]
    kinds += ["subject", "description", "free texts"] if free_text else []
    events.append_many(
        conn,
        [
            {
                "type": "case.anonymised",
                "case_id": case_id,
                "handoff_id": None,
                "actor": actor,
                "data": {"closed_before": before.isoformat(), "removed": kinds, "rows": dict(changed[case_id])},
            }
            for case_id in due
        ],
    )
    result.cases += len(due)
    for counts in changed.values():
        result.rows.update(counts)
    return len(due)


def _clean(
    conn: Connection, holding: Holding, ids: dict[str, Identifiers], free_text: bool, changed: dict[str, Counter[str]]
) -> None:
    """Rewrite the holding's rows of these cases, each changed row with one batched UPDATE."""
    table = holding.table
    [key] = table.primary_key.columns
    columns = [table.c[name] for name in holding.texts + holding.documents]
    if holding.link.name == "case_id":
        query = select(key, holding.link.label("case_ref"), *columns).where(holding.link.in_(list(ids)))
    else:
        query = (
            select(key, handoffs.c.case_id.label("case_ref"), *columns)
            .join(handoffs, handoffs.c.id == holding.link)
            .where(handoffs.c.case_id.in_(list(ids)))
        )
    if holding.purge:
        doomed = conn.execute(query).all()
        for row in doomed:
            changed[row.case_ref][table.name] += 1
        if doomed:
            conn.execute(delete(table).where(key.in_([row._mapping[key.name] for row in doomed])))
        return
    writes = []
    for row in conn.execute(query):
        m = row._mapping
        case_ids = ids[m["case_ref"]]
        new = {name: _text(m[name], case_ids, free_text) for name in holding.texts}
        new |= {name: scrub(m[name], case_ids, free_text) for name in holding.documents}
        if any(new[name] != m[name] for name in new):
            writes.append({"_key": m[key.name], **{f"_{name}": value for name, value in new.items()}})
            changed[m["case_ref"]][table.name] += 1
    if writes:
        columns_to_write: dict[str, Any] = {name: bindparam(f"_{name}") for name in holding.texts + holding.documents}
        conn.execute(update(table).where(key == bindparam("_key")).values(**columns_to_write), writes)


def _text(value: str | None, ids: Identifiers, free_text: bool) -> str | None:
    if value is None:
        return None
    return REMOVED if free_text else ids.mask(value)


def run_scheduled(hub: Hub) -> None:
    """The scheduler's job: a bounded pass, when a retention period is set."""
    if hub.settings.retention_days is not None:
        anonymise_due(hub, cutoff(hub), actor="hub:retention", max_batches=JOB_BATCHES)
