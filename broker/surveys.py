"""The citizen's satisfaction survey: once per case, attributed to every agency that answered it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from broker import events
from broker.errors import Conflict
from broker.store.cases import find_case_id
from broker.store.engine import now, transaction
from broker.store.tables import cases, handoffs, surveys
from schemas import CaseState, HandoffState

SURVEYED = (CaseState.replied.value, CaseState.closed.value)
"""A case is surveyed once the citizen has the reply."""


@dataclass(frozen=True)
class Survey:
    """What the citizen said of a case."""

    case: str
    score: int
    comment: str
    agencies: list[str]
    created_at: datetime


def record(engine: Engine, case: str, score: int, comment: str, *, actor: str) -> Survey:
    """Keep the survey of a replied or closed case (id or reference); Conflict if it has one or no reply yet."""
    try:
        with transaction(engine) as conn:
            case_id = find_case_id(conn, case)
            state = conn.execute(select(cases.c.state).where(cases.c.id == case_id).with_for_update()).scalar_one()
            if state not in SURVEYED:
                raise Conflict(f"case '{case}' has no reply yet (it is {state}); survey it after the reply", state)
            if for_case(conn, case_id) is not None:
                raise Conflict(f"case '{case}' already has its survey", state="surveyed")
            answered = sorted(
                conn.execute(
                    select(handoffs.c.agency_id)
                    .where(handoffs.c.case_id == case_id, handoffs.c.state == HandoffState.accepted.value)
                    .distinct()
                ).scalars()
            )
            at = now()
            conn.execute(
                insert(surveys).values(case_id=case_id, score=score, comment=comment, agencies=answered, created_at=at)
            )
            events.append(
                conn,
                type="case.surveyed",
                case_id=case_id,
                actor=actor,
                score=score,
                comment=comment,
                agencies=answered,
            )
    except IntegrityError:  # another survey of the same case committed first
        raise Conflict(f"case '{case}' already has its survey", state="surveyed") from None
    return Survey(case_id, score, comment, answered, at)


def for_case(conn: Connection, case_id: str) -> Survey | None:
    """A case's survey, if it came."""
    row = conn.execute(select(surveys).where(surveys.c.case_id == case_id)).first()
    if row is None:
        return None
    return Survey(row.case_id, row.score, row.comment, list(row.agencies), row.created_at)
