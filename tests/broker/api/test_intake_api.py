"""The national system's API over a real socket: accepted cases, read-backs, and every refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from broker.hub import Hub
from broker.store.migrate import upgrade
from broker.store.tables import cases, events, handoffs, outbox
from tests.conftest import API_KEY, hub_settings, make_case, sample_cases
from tests.support import live_api, pump

HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}


@pytest.fixture
def api(any_hub: Hub) -> Iterator[tuple[Hub, str]]:
    with live_api(any_hub) as base:
        yield any_hub, base


def counts(hub: Hub) -> tuple[int, int, int, int]:
    with hub.engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (cases, handoffs, outbox, events)
        )  # type: ignore[return-value]


def body(**overrides: Any) -> dict[str, Any]:
    return make_case(**overrides).model_dump(mode="json")


def test_a_submitted_case_is_committed_routed_and_readable(api: tuple[Hub, str]) -> None:
    _hub, base = api
    sent = body(category="public-bus", agency=None)
    r = requests.post(f"{base}/v1/cases", json=sent, headers=HEADERS, timeout=5)
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["Location"] == f"/v1/cases/{created['id']}"
    assert created["state"] == "routed"
    assert [h["agency"] for h in created["handoffs"]] == ["ministry-of-transportation"]

    by_reference = requests.get(f"{base}/v1/cases/{sent['reference']}", headers=HEADERS, timeout=5).json()
    assert by_reference["id"] == created["id"]
    trail = requests.get(f"{base}/v1/cases/{created['id']}/events", headers=HEADERS, timeout=5).json()
    assert [e["type"] for e in trail] == ["case.received", "case.routed"]
    assert trail[0]["actor"] == "national-system"


def test_the_answer_to_a_submission_is_the_case_as_read_back(api: tuple[Hub, str]) -> None:
    """The answer is built from what was committed (no read-back): it must say exactly what a read says."""
    _hub, base = api
    sent = body(category="public-bus", agency=None)
    created = requests.post(f"{base}/v1/cases", json=sent, headers=HEADERS, timeout=5)
    read = requests.get(f"{base}/v1/cases/{created.json()['id']}", headers=HEADERS, timeout=5)
    assert created.status_code == 201
    assert created.json() == read.json()
    several = body(category="public-bus", agency="ministry-of-works")
    created = requests.post(f"{base}/v1/cases", json=several, headers=HEADERS, timeout=5)
    read = requests.get(f"{base}/v1/cases/{created.json()['id']}", headers=HEADERS, timeout=5)
    assert created.json() == read.json()


def test_the_same_reference_twice_answers_200_with_the_first_case(api: tuple[Hub, str]) -> None:
    hub, base = api
    sent = body()
    first = requests.post(f"{base}/v1/cases", json=sent, headers=HEADERS, timeout=5)
    again = requests.post(f"{base}/v1/cases", json=sent, headers=HEADERS, timeout=5)  # a retry: the same content
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["case"]["subject"] == sent["subject"]
    assert counts(hub)[:2] == (1, 1)


def test_arabic_text_round_trips_byte_for_byte_to_the_follow_up_queue_and_events(api: tuple[Hub, str]) -> None:
    hub, base = api
    arabic = next(c for c in sample_cases() if c["language"] == "ar" and c["category"] == "social-insurance-pensions")
    raw = json.dumps(arabic, ensure_ascii=False).encode("utf-8")
    r = requests.post(f"{base}/v1/cases", data=raw, headers=HEADERS, timeout=5)
    assert r.status_code == 201, r.text
    assert r.content.decode("utf-8").count(arabic["description"]) == 1
    pump(hub)
    read = requests.get(f"{base}/v1/cases/{r.json()['id']}", headers=HEADERS, timeout=5).json()
    assert read["case"]["subject"].encode() == arabic["subject"].encode()
    assert read["case"]["description"].encode() == arabic["description"].encode()
    assert read["case"]["citizen"]["name"].encode() == arabic["citizen"]["name"].encode()

    from broker import followup

    with hub.engine.connect() as conn:
        [item] = followup.queue(conn)
    assert item.subject.encode("utf-8") == arabic["subject"].encode("utf-8")


REFUSALS = [
    # (what, how to build the request, expected status, words the reason must contain)
    ("missing field", lambda b: {k: v for k, v in b.items() if k != "subject"}, 422, "subject"),
    ("wrong type", lambda b: {**b, "attachments": "none"}, 422, "attachments"),
    ("unknown kind", lambda b: {**b, "kind": "praise"}, 422, "kind"),
    ("unknown category", lambda b: {**b, "category": "space-travel"}, 422, "space-travel"),
    ("unknown agency", lambda b: {**b, "agency": "ministry-of-magic"}, 422, "ministry-of-magic"),
    ("bad CPR", lambda b: {**b, "citizen": {**b["citizen"], "cpr": "12AB"}}, 422, "citizen.cpr"),
    ("naive timestamp", lambda b: {**b, "submitted_at": "2026-11-22T09:14:00"}, 422, "submitted_at"),
    ("unknown field", lambda b: {**b, "priority": "high"}, 422, "priority"),
]


@pytest.mark.parametrize(("what", "change", "status", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_bad_input_is_refused_with_a_reason_and_nothing_is_written(
    api: tuple[Hub, str], what: str, change: Any, status: int, reason: str
) -> None:
    hub, base = api
    r = requests.post(f"{base}/v1/cases", json=change(body()), headers=HEADERS, timeout=5)
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]
    assert counts(hub) == (0, 0, 0, 0)


RAW_REFUSALS = [
    ("not JSON", b"{not json", {}, 422, "JSON"),
    ("invalid UTF-8", b'{"reference": "TW-1", "subject": "\xd8\xa7\xff\xfe"}', {}, 400, "UTF-8"),
    ("over the size limit", b'{"description": "' + b"x" * 300_000 + b'"}', {}, 413, "larger than"),
    ("missing API key", b"{}", {"X-API-Key": None}, 401, "missing"),
    ("wrong API key", b"{}", {"X-API-Key": "guess"}, 401, "wrong"),
]


@pytest.mark.parametrize(("what", "raw", "headers", "status", "reason"), RAW_REFUSALS, ids=[r[0] for r in RAW_REFUSALS])
def test_malformed_or_unauthenticated_requests_are_refused_and_nothing_is_written(
    api: tuple[Hub, str], what: str, raw: bytes, headers: dict[str, Any], status: int, reason: str
) -> None:
    hub, base = api
    sent = {k: v for k, v in {**HEADERS, **headers}.items() if v is not None}
    r = requests.post(f"{base}/v1/cases", data=raw, headers=sent, timeout=5)
    assert r.status_code == status, r.text
    assert reason in json.dumps(r.json())
    assert counts(hub) == (0, 0, 0, 0)


def test_reading_needs_the_key_and_an_unknown_case_is_404(api: tuple[Hub, str]) -> None:
    _, base = api
    assert requests.get(f"{base}/v1/cases/TW-nope", timeout=5).status_code == 401
    missing = requests.get(f"{base}/v1/cases/TW-nope", headers=HEADERS, timeout=5)
    assert missing.status_code == 404
    assert "TW-nope" in missing.json()["detail"]


def test_the_event_feed_pages_by_cursor_in_order(api: tuple[Hub, str]) -> None:
    hub, base = api
    for _ in range(3):
        requests.post(f"{base}/v1/cases", json=body(), headers=HEADERS, timeout=5).raise_for_status()
    pump(hub)  # the relay sequences committed events
    seen: list[int] = []
    cursor = 0
    while True:
        page = requests.get(
            f"{base}/v1/events", params={"after": cursor, "limit": 4}, headers=HEADERS, timeout=5
        ).json()
        if not page["events"]:
            break
        seen += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
    assert seen == list(range(1, 10))  # received, routed, delivered for each of three cases


def test_a_batch_is_accepted_in_one_go_and_is_idempotent_per_reference(api: tuple[Hub, str]) -> None:
    hub, base = api
    batch = [body(), body(category="public-schools"), body(kind="inquiry", subject="Opening hours?", language="en")]
    r = requests.post(f"{base}/v1/cases/batch", json={"cases": batch}, headers=HEADERS, timeout=5)
    assert r.status_code == 200, r.text
    first = r.json()["cases"]
    assert [c["reference"] for c in first] == [b["reference"] for b in batch]
    assert all(c["created"] for c in first)
    again = requests.post(f"{base}/v1/cases/batch", json={"cases": batch[1:]}, headers=HEADERS, timeout=5).json()
    assert [c["id"] for c in again["cases"]] == [c["id"] for c in first[1:]]
    assert not any(c["created"] for c in again["cases"])
    assert counts(hub)[0] == 3


def test_a_batch_with_one_bad_case_is_refused_whole_naming_the_case(api: tuple[Hub, str]) -> None:
    hub, base = api
    batch = [body(), body(category="space-travel"), body()]
    r = requests.post(f"{base}/v1/cases/batch", json={"cases": batch}, headers=HEADERS, timeout=5)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("cases.1.category: unknown category 'space-travel'")
    malformed = requests.post(
        f"{base}/v1/cases/batch", json={"cases": [body(), {**body(), "kind": "praise"}]}, headers=HEADERS, timeout=5
    )
    assert malformed.status_code == 422 and "cases.1.kind" in malformed.json()["detail"]
    assert counts(hub) == (0, 0, 0, 0)


def test_during_a_key_rotation_the_previous_national_key_is_accepted_too_and_nothing_else(tmp_path: Path) -> None:
    """M8: the national system switches keys without an outage; the retired key stops working once removed."""
    old, new = "old-national-key-0123456789abcdefghij", "new-national-key-0123456789abcdefghij"

    def status_with(key: str, **rotation: Any) -> int:
        hub = Hub(hub_settings(f"sqlite:///{tmp_path / 'rotation.db'}", tmp_path, national_api_key=new, **rotation))
        upgrade(hub.engine)
        try:
            with live_api(hub) as base:
                headers = {**HEADERS, "X-API-Key": key}
                return requests.post(f"{base}/v1/cases", json=body(), headers=headers, timeout=5).status_code
        finally:
            hub.engine.dispose()

    assert status_with(new, national_api_key_previous=old) == 201
    assert status_with(old, national_api_key_previous=old) == 201
    assert status_with("third-national-key-0123456789abcdefghij", national_api_key_previous=old) == 401
    assert status_with(old) == 401  # the rotation is over
