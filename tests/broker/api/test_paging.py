"""Every list the APIs return is paged: a limit with a maximum, and a cursor to go on (L9)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from broker import agency_keys, events
from broker.api import create_app
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.cases import get_case
from broker.store.engine import now, transaction
from broker.store.tables import agency_messages
from tests.conftest import API_KEY, make_case

NATIONAL = {"X-API-Key": API_KEY}


def test_a_cases_events_come_in_pages_with_a_cursor_and_a_bounded_limit(sqlite_hub: Hub) -> None:
    """L9: /v1/cases/{id}/events is paged (limit ≤ 1000, X-Next-Cursor), not one unbounded list."""
    hub = sqlite_hub
    [accepted] = submit_cases(hub.engine, hub.directory, [make_case()], actor="national-system")
    with transaction(hub.engine) as conn:
        for n in range(25):
            events.append(conn, type="handoff.progress", case_id=accepted.case_id, actor="agency:x", n=n)
    client = TestClient(create_app(hub))
    url = f"/v1/cases/{accepted.case_id}/events"
    assert client.get(url, params={"limit": 1001}, headers=NATIONAL).status_code == 422
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": 10} | ({"after": cursor} if cursor else {})
        answer = client.get(url, params=params, headers=NATIONAL)
        assert answer.status_code == 200
        page = [e["id"] for e in answer.json()]
        assert len(page) <= 10
        seen += page
        pages += 1
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    everything = client.get(url, headers=NATIONAL).json()
    assert seen == [e["id"] for e in everything] and len(seen) >= 26
    assert pages == -(-len(seen) // 10)


def test_a_handoffs_messages_come_in_pages_to_its_agency(sqlite_hub: Hub) -> None:
    """L9: an agency reads a handoff's messages a bounded page at a time (messages_limit, messages_after)."""
    hub = sqlite_hub
    [accepted] = submit_cases(
        hub.engine, hub.directory, [make_case(category="road-maintenance")], actor="national-system"
    )
    with hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0]
    with transaction(hub.engine) as conn:
        for n in range(7):
            conn.execute(
                agency_messages.insert().values(
                    id=f"m_{n:026d}",
                    handoff_id=handoff.id,
                    kind="progress",
                    text=f"خطوة {n}",
                    source="agency-api",
                    actor="agency:x",
                    dedup_key=f"d{n}",
                    data={},
                    created_at=now(),
                )
            )
    key = agency_keys.create(hub.engine, hub.directory, handoff.agency, created_by="t").key
    client = TestClient(create_app(hub))
    url = f"/agency/v1/handoffs/{handoff.id}"
    first = client.get(url, params={"messages_limit": 3}, headers={"X-API-Key": key}).json()["messages"]
    assert [m["text"] for m in first] == ["خطوة 0", "خطوة 1", "خطوة 2"]
    rest = client.get(url, params={"messages_after": first[-1]["id"]}, headers={"X-API-Key": key}).json()
    assert [m["text"] for m in rest["messages"]] == [f"خطوة {n}" for n in range(3, 7)]
    too_many = client.get(url, params={"messages_limit": 201}, headers={"X-API-Key": key})
    assert too_many.status_code == 422
