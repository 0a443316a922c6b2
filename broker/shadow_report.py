"""The shadow report: what an agency's endpoint did with its copies, beside what the officers recorded.

One line per copied handoff, each with its findings, and a count per finding, so the switch from the
manual queue to the agency's system is decided on evidence. The officers' record is the handoff's
own (its agency messages and deadlines); the endpoint's is broker.shadow's tables.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from broker.shadow import CopyState
from broker.store.engine import now
from broker.store.tables import agency_messages, cases, handoffs, shadow_copies, shadow_messages

FINDINGS: dict[str, tuple[str, str]] = {
    "delivered": ("وصلت النسخة إلى نظام الجهة", "copy delivered"),
    "refused": ("رفض نظام الجهة النسخة", "copy refused by the endpoint"),
    "undelivered": ("لم تصل النسخة بعد", "copy not delivered (yet)"),
    "late": ("تأخر نظام الجهة عن المهلة", "endpoint late against the deadline"),
    "answer_matches": ("رد النظام مطابق لما سجّله الموظفون", "answer matches the officers' record"),
    "answer_mismatch": ("رد النظام يختلف عمّا سجّله الموظفون", "answer differs from the officers' record"),
    "answer_missing": ("ردّت الجهة ولم يرد النظام", "officers recorded an answer, the endpoint gave none"),
    "answer_unrecorded": ("ردّ النظام ولم يُسجَّل رد", "the endpoint answered, the officers recorded none"),
}
"""Each finding in Arabic and English, in the order the report shows them."""

_SPOKE = ("acknowledged", "progress", "needs_info", "answered")
"""Endpoint messages that show it took the case (for the acknowledgement deadline)."""


@dataclass(frozen=True)
class Line:
    """One copied handoff: the endpoint's side, the officers' side, and what differs."""

    handoff: str
    reference: str
    copy: str
    error: str | None
    endpoint_acknowledged_at: datetime | None
    endpoint_answer: str | None
    endpoint_answered_at: datetime | None
    officer_answer: str | None
    officer_answered_at: datetime | None
    ack_due_at: datetime | None
    answer_due_at: datetime | None
    findings: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """The line with its instants as ISO 8601 text."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in self.__dict__.items()} | {
            "findings": list(self.findings)
        }


@dataclass(frozen=True)
class Report:
    """Every copy of one agency, and how many lines show each finding."""

    agency: str
    lines: list[Line]

    @property
    def counts(self) -> dict[str, int]:
        """Lines per finding, every finding listed."""
        return {name: sum(name in line.findings for line in self.lines) for name in FINDINGS}

    def as_json(self) -> dict[str, Any]:
        """The report as one JSON document."""
        return {"agency": self.agency, "copies": len(self.lines), "counts": self.counts} | {
            "handoffs": [line.as_json() for line in self.lines]
        }


def same_text(a: str, b: str) -> bool:
    """Whether two answers say the same, ignoring spacing, line endings, case and Unicode composition."""

    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFC", text).split()).casefold()

    return norm(a) == norm(b)


def findings(line: Line, at: datetime) -> tuple[str, ...]:
    """What one line shows, judged at `at` (an endpoint silent past its acknowledgement deadline is late)."""
    found = {
        CopyState.sent.value: ["delivered"],
        CopyState.refused.value: ["refused"],
    }.get(line.copy, ["undelivered"])
    acked, due = line.endpoint_acknowledged_at, line.ack_due_at
    late_ack = due is not None and ((acked is not None and acked > due) or (acked is None and at > due))
    answered, answer_due = line.endpoint_answered_at, line.answer_due_at
    late_answer = answered is not None and answer_due is not None and answered > answer_due
    if line.copy == CopyState.sent.value and (late_ack or late_answer):
        found.append("late")
    if line.endpoint_answer is not None and line.officer_answer is not None:
        found.append("answer_matches" if same_text(line.endpoint_answer, line.officer_answer) else "answer_mismatch")
    elif line.officer_answer is not None:
        found.append("answer_missing")
    elif line.endpoint_answer is not None:
        found.append("answer_unrecorded")
    return tuple(found)


def report(conn: Connection, agency_id: str, at: datetime | None = None) -> Report:
    """The shadow report of one agency, judged now (or at `at`)."""
    at = at or now()
    copies = conn.execute(
        select(shadow_copies, cases.c.reference, handoffs.c.ack_due_at, handoffs.c.answer_due_at)
        .join(handoffs, handoffs.c.id == shadow_copies.c.handoff_id)
        .join(cases, cases.c.id == handoffs.c.case_id)
        .where(shadow_copies.c.agency_id == agency_id)
        .order_by(shadow_copies.c.created_at, shadow_copies.c.handoff_id)
    ).all()
    ids = [c.handoff_id for c in copies]
    said = conn.execute(
        select(shadow_messages).where(shadow_messages.c.handoff_id.in_(ids)).order_by(shadow_messages.c.received_at)
    ).all()
    recorded = conn.execute(
        select(agency_messages)
        .where(agency_messages.c.handoff_id.in_(ids), agency_messages.c.kind == "answered")
        .order_by(agency_messages.c.created_at, agency_messages.c.id)
    ).all()
    first_spoke: dict[str, datetime] = {}
    endpoint_answer: dict[str, Any] = {}
    for m in said:
        if m.kind in _SPOKE:
            first_spoke.setdefault(m.handoff_id, m.received_at)
        if m.kind == "answered":
            endpoint_answer[m.handoff_id] = m  # the latest wins
    officer_answer = {m.handoff_id: m for m in recorded}
    lines = []
    for c in copies:
        mine, theirs = endpoint_answer.get(c.handoff_id), officer_answer.get(c.handoff_id)
        line = Line(
            handoff=c.handoff_id,
            reference=c.reference,
            copy=c.state,
            error=c.error,
            endpoint_acknowledged_at=first_spoke.get(c.handoff_id),
            endpoint_answer=mine.text if mine is not None else None,
            endpoint_answered_at=mine.received_at if mine is not None else None,
            officer_answer=theirs.text if theirs is not None else None,
            officer_answered_at=theirs.created_at if theirs is not None else None,
            ack_due_at=c.ack_due_at,
            answer_due_at=c.answer_due_at,
            findings=(),
        )
        lines.append(replace(line, findings=findings(line, at)))
    return Report(agency_id, lines)
