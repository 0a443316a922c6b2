"""The follow-up queue page: filters, counts, paging, and its live fragment."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from broker.hub import Hub
from broker.intake import submit_cases
from tests.conftest import make_case
from tests.support import pump

Client = Callable[[str | None], TestClient]
ROW = re.compile(r'<tr class="[^"]*" data-handoff="(h_[^"]+)"')


def _queue(hub: Hub) -> list[str]:
    sent = [make_case(category="social-insurance-pensions", kind="complaint") for _ in range(26)]
    sent += [make_case(category="social-insurance-pensions", kind="inquiry", subject="استفسار عن المعاش التقاعدي")]
    accepted = submit_cases(hub.engine, hub.directory, sent, actor="test")
    pump(hub, rounds=50)
    return [a.reference for a in accepted]


def test_the_queue_pages_by_25_and_filters_by_kind_search_agency_and_level(
    console_hub: Hub, client_for: Client
) -> None:
    references = _queue(console_hub)
    client = client_for("amina")
    first = client.get("/console/queue").text
    assert len(ROW.findall(first)) == 25
    assert 'id="next-page"' in first
    assert "جهة غير مربوطة بعد: <b>٢٧</b>" in first  # the count per reason, in Arabic-Indic digits
    second = client.get("/console/queue?page=2").text
    assert len(ROW.findall(second)) == 2 and 'id="next-page"' not in second
    assert len(ROW.findall(client.get("/console/queue?kind=inquiry").text)) == 1
    assert len(ROW.findall(client.get(f"/console/queue?search={references[3]}").text)) == 1
    assert len(ROW.findall(client.get("/console/queue?search=المعاش").text)) == 1
    assert len(ROW.findall(client.get("/console/queue?agency=ministry-of-works").text)) == 0
    assert len(ROW.findall(client.get("/console/queue?escalation=0&reason=manual").text)) == 25
    assert len(ROW.findall(client.get("/console/queue?escalation=2").text)) == 0
    # unknown values are ignored, never an error
    assert len(ROW.findall(client.get("/console/queue?kind=spam&reason=nope&agency=x&page=zz").text)) == 25


def test_the_live_fragment_is_the_rows_alone_and_asks_for_a_session(console_hub: Hub, client_for: Client) -> None:
    _queue(console_hub)
    live = client_for("yusuf").get("/console/queue/live?kind=inquiry")
    assert live.status_code == 200
    assert "<html" not in live.text and len(ROW.findall(live.text)) == 1
    anonymous = client_for(None).get("/console/queue/live")
    assert anonymous.status_code == 401
