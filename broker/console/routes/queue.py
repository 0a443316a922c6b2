"""The follow-up queue: filtered, paged, soonest due first, with counts per reason; refreshed live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select

from broker import followup
from broker.console.permissions import Permission
from broker.console.web import PREFIX, Staff, staff
from broker.store.tables import assignments, inbound_log
from schemas import FollowupReason

router = APIRouter()
PAGE = 25
UNMATCHED = select(func.count()).where(inbound_log.c.disposition == "unmatched", inbound_log.c.resolved_at.is_(None))


@dataclass(frozen=True)
class Filters:
    """The queue's filters as the page's query string gives them (unknown values are ignored)."""

    agency: str | None
    kind: str | None
    reason: FollowupReason | None
    escalation: int | None
    search: str | None
    page: int

    @classmethod
    def read(cls, person: Staff) -> Filters:
        """The filters of this request."""
        q = person.request.query_params
        agency = q.get("agency") or None
        reason = q.get("reason") or None
        escalation = q.get("escalation") or None
        page = q.get("page", "1")
        return cls(
            agency=agency if agency in person.hub.directory.agencies else None,
            kind=q.get("kind") if q.get("kind") in ("complaint", "suggestion", "inquiry") else None,
            reason=FollowupReason(reason) if reason and reason in FollowupReason.__members__ else None,
            escalation=int(escalation) if escalation and escalation.isdigit() else None,
            search=(q.get("search") or "").strip()[:100] or None,
            page=max(int(page), 1) if page.isdigit() else 1,
        )

    def query(self, **change: object) -> str:
        """The query string of these filters, with `change` applied."""
        values: dict[str, object] = {
            "agency": self.agency,
            "kind": self.kind,
            "reason": self.reason.value if self.reason else None,
            "escalation": self.escalation,
            "search": self.search,
            "page": self.page,
        }
        values.update(change)
        return urlencode({k: v for k, v in values.items() if v not in (None, "") and not (k == "page" and v == 1)})


Rows = tuple[list[followup.QueueItem], bool, dict[FollowupReason, int], dict[str, str], int]


def _rows(person: Staff, f: Filters) -> Rows:
    with person.hub.engine.connect() as conn:
        items = followup.queue(
            conn,
            f.agency,
            PAGE + 1,
            reason=f.reason,
            kind=f.kind,
            search=f.search,
            escalation=f.escalation,
            offset=(f.page - 1) * PAGE,
        )
        counts = followup.counts(conn, f.agency)
        ids = [i.handoff for i in items]
        who = select(assignments.c.handoff_id, assignments.c.username).where(assignments.c.handoff_id.in_(ids))
        assigned = {str(r[0]): str(r[1]) for r in conn.execute(who)}
        unmatched = int(conn.execute(UNMATCHED).scalar_one())
    return items[:PAGE], len(items) > PAGE, counts, assigned, unmatched


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """The console opens on the queue."""
    return RedirectResponse(f"{PREFIX}/queue", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(person: Annotated[Staff, Depends(staff(Permission.view))]) -> HTMLResponse:
    """The follow-up queue."""
    f = Filters.read(person)
    items, more, counts, assigned, unmatched = _rows(person, f)
    return person.render(
        "queue.html",
        f=f,
        items=items,
        more=more,
        counts=counts,
        assigned=assigned,
        unmatched=unmatched,
        agencies=person.hub.directory.agencies,
        reasons=list(FollowupReason),
        levels=range(len(person.hub.directory.sla.escalation) + 1),
    )


@router.get("/queue/live", response_class=HTMLResponse)
def queue_live(person: Annotated[Staff, Depends(staff(Permission.view, fragment=True))]) -> HTMLResponse:
    """The queue's rows and counts alone, for the page's script to swap in (no reload)."""
    f = Filters.read(person)
    items, more, counts, assigned, unmatched = _rows(person, f)
    return person.render(
        "queue_live.html",
        f=f,
        items=items,
        more=more,
        counts=counts,
        assigned=assigned,
        unmatched=unmatched,
        agencies=person.hub.directory.agencies,
    )
