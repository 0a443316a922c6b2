"""An agency's own handoffs, read as the agency API shows them; another agency's do not exist here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from broker.config import Directory
from broker.envelopes import shared_case
from broker.errors import NotFound
from broker.lifecycle import WITH_AGENCY, allows
from broker.store.tables import agency_messages, cases, handoffs
from schemas import HandoffState, MessageKind
from schemas.agency_api import AgencyHandoff, AgencyHandoffItem, AgencyHandoffPage, SentMessage

VISIBLE_STATES = tuple(s for s in HandoffState if s.value in WITH_AGENCY)
"""What the list shows: handed over and still the agency's to act on (an answer may be amended
until the central office accepts it). Pending ones have not reached the agency yet."""


def _query() -> Any:
    return select(handoffs, cases.c.reference, cases.c.kind, cases.c.category, cases.c.payload.label("payload")).join(
        cases, cases.c.id == handoffs.c.case_id
    )


def _item(m: Any) -> dict[str, Any]:
    p = m["payload"]
    return {
        "id": m["id"],
        "reference": m["reference"],
        "kind": m["kind"],
        "category": m["category"],
        "subject": p["subject"],
        "state": m["state"],
        "overdue": m["overdue"],
        "agency_reference": m["agency_reference"],
        "submitted_at": p["submitted_at"],
        "created_at": m["created_at"],
        "updated_at": m["updated_at"],
    }


def open_handoffs(
    conn: Connection, agency_id: str, *, after: str | None, limit: int, state: HandoffState | None = None
) -> AgencyHandoffPage:
    """The agency's handoffs in VISIBLE_STATES, oldest first, paged by handoff id.

    Ids sort by creation time, so a cursor stays valid while new handoffs arrive at the end and
    while earlier ones leave the list as they are answered.
    """
    states = [state.value] if state is not None else [s.value for s in VISIBLE_STATES]
    q = (
        _query()
        .where(handoffs.c.agency_id == agency_id, handoffs.c.state.in_(states))
        .order_by(handoffs.c.id)
        .limit(limit + 1)
    )
    if after is not None:
        q = q.where(handoffs.c.id > after)
    rows = conn.execute(q).all()
    items = [AgencyHandoffItem.model_validate(_item(r._mapping)) for r in rows[:limit]]
    return AgencyHandoffPage(handoffs=items, next_cursor=items[-1].id if len(rows) > limit else None)


MESSAGES_PAGE = 200
"""Most messages one read of a handoff returns (L9); `messages_after` pages on."""


def agency_handoff(
    conn: Connection,
    directory: Directory,
    agency_id: str,
    handoff_id: str,
    messages_after: str | None = None,
    messages_limit: int = MESSAGES_PAGE,
) -> AgencyHandoff:
    """One of the agency's handoffs, in any state; NotFound for another agency's, as for none.

    The citizen's details are those the agency's `share` policy lists, and only while the handoff
    is with the agency: before delivery, and after a transfer, a withdrawal or the accepted answer,
    the agency sees the case without them.
    """
    row = conn.execute(_query().where(handoffs.c.id == handoff_id, handoffs.c.agency_id == agency_id)).first()
    if row is None:
        raise NotFound(f"no handoff '{handoff_id}'")
    m = row._mapping
    p = shared_case(m["payload"], directory.agency(agency_id)).model_dump(mode="json")
    with_agency = m["state"] in WITH_AGENCY
    q = select(agency_messages).where(agency_messages.c.handoff_id == handoff_id)
    if messages_after is not None:
        q = q.where(agency_messages.c.id > messages_after)
    sent = conn.execute(q.order_by(agency_messages.c.id).limit(min(messages_limit, MESSAGES_PAGE))).all()
    return AgencyHandoff.model_validate(
        {
            **_item(m),
            "description": p["description"],
            "language": p["language"],
            "channel": p["channel"],
            "location": p.get("location"),
            "attachments": p.get("attachments", []),
            "citizen": p["citizen"] if with_agency else None,
            "messages": [
                SentMessage(
                    id=s.id, kind=s.kind, text=s.text, agency_reference=s.agency_reference, created_at=s.created_at
                )
                for s in sent
            ],
            "accepts": [k for k in MessageKind if allows(m["state"], k.value, by_agency=True)],
        }
    )
