"""The agency API over a real socket: an agency sees and acts on its own handoffs only."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy import event, func, select

from broker import agency_keys, events
from broker.hub import Hub, set_hub
from broker.intake import submit_cases
from broker.settings import PROJECT_ROOT
from broker.store.cases import get_case
from broker.store.engine import transaction
from broker.store.handoffs import update_handoff
from broker.store.migrate import upgrade
from broker.store.tables import agency_messages, cases, handoffs, metadata
from tests.conftest import API_KEY, hub_settings, make_case
from tests.support import live_api, pump

WORKS = "ministry-of-works"  # connected here (stub adapter)
HEALTH = "ministry-of-health"  # manual: delivered onto the follow-up queue


ADAPTERS = {WORKS: {"kind": "stub"}, HEALTH: {"kind": "manual"}}


def connected_config(tmp_path: Path) -> Path:
    """The bundled agencies.yaml with Works connected through the stub adapter and Health manual."""
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "agencies.yaml").read_text(encoding="utf-8"))
    for agency in raw["agencies"]:
        if agency["id"] in ADAPTERS:
            agency["adapter"] = ADAPTERS[agency["id"]]
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "agencies.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return directory


@dataclass
class World:
    """A live hub with two agencies' handoffs delivered and a key for each agency."""

    hub: Hub
    base: str
    works_key: str
    health_key: str
    works: list[str]  # delivered, oldest first
    health: str
    pending: str  # a Works handoff not delivered yet
    accepted: str  # a Works handoff whose answer the central office accepted
    revoked_key: str

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["X-API-Key"] = key
        return requests.request(method, f"{self.base}/agency/v1{path}", headers=headers, timeout=10, **kwargs)


def _handoff_of(hub: Hub, case_id: str) -> str:
    with hub.engine.connect() as conn:
        return get_case(conn, case_id).handoffs[0].id


@contextmanager
def running_world(tmp_path: Path, database_url: str | None = None, **settings: Any) -> Iterator[World]:
    """Build the world on a fresh hub (SQLite unless given an emptied database) and serve its API."""
    url = database_url or f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(hub_settings(url, tmp_path, config_dir=connected_config(tmp_path), **settings))
    upgrade(hub.engine)
    set_hub(hub)
    d = hub.directory
    road = [make_case(category="road-maintenance") for _ in range(3)]
    clinic = make_case(category="hospital-services", subject="تأخر صرف الدواء في الصيدلية")
    accepted = submit_cases(hub.engine, d, [*road, clinic], actor="national-system")
    pump(hub)
    works = [_handoff_of(hub, a.case_id) for a in accepted[:3]]
    with transaction(hub.engine) as conn:
        update_handoff(conn, works[2], {"state": "accepted"})
    [late] = submit_cases(hub.engine, d, [make_case(category="road-maintenance")], actor="national-system")
    revoked = agency_keys.create(hub.engine, d, WORKS, created_by="test")
    agency_keys.revoke(hub.engine, revoked.id)
    with live_api(hub) as base:
        yield World(
            hub=hub,
            base=base,
            works_key=agency_keys.create(hub.engine, d, WORKS, created_by="test").key,
            health_key=agency_keys.create(hub.engine, d, HEALTH, created_by="test").key,
            works=works[:2],
            health=_handoff_of(hub, accepted[3].case_id),
            pending=_handoff_of(hub, late.case_id),
            accepted=works[2],
            revoked_key=revoked.key,
        )
    set_hub(None)
    hub.engine.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A world of this test's own, for tests that change it."""
    with running_world(tmp_path) as w:
        yield w


@pytest.fixture(scope="module")
def unchanged_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for the refusals: each must leave it exactly as it found it."""
    with running_world(tmp_path_factory.mktemp("refusals")) as w:
        yield w


def snapshot(hub: Hub) -> dict[str, Any]:
    """Row counts of every table and every handoff's and case's state: what a refusal must not change."""
    with hub.engine.connect() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables
        }
        states = conn.execute(select(handoffs.c.id, handoffs.c.state, handoffs.c.updated_at)).all()
        case_states = conn.execute(select(cases.c.id, cases.c.state)).all()
    return {"counts": counts, "handoffs": sorted(states), "cases": sorted(case_states)}


def test_an_agency_lists_only_its_own_delivered_handoffs_oldest_first_a_page_at_a_time(unchanged_world: World) -> None:
    first = unchanged_world.call("GET", "/handoffs", unchanged_world.works_key, params={"limit": 1})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [h["id"] for h in page["handoffs"]] == unchanged_world.works[:1]
    second = unchanged_world.call(
        "GET", "/handoffs", unchanged_world.works_key, params={"limit": 1, "after": page["next_cursor"]}
    )
    assert [h["id"] for h in second.json()["handoffs"]] == unchanged_world.works[1:]
    assert second.json()["next_cursor"] is None
    item = page["handoffs"][0]
    assert item["subject"] == "حفرة خطيرة في شارع 4407"
    assert "citizen" not in item  # the list carries no personal data

    health = unchanged_world.call("GET", "/handoffs", unchanged_world.health_key).json()["handoffs"]
    assert [h["id"] for h in health] == [unchanged_world.health]
    assert health[0]["subject"] == "تأخر صرف الدواء في الصيدلية"


def test_an_agency_reads_its_handoff_with_the_citizen_contact_and_what_it_may_say_next(unchanged_world: World) -> None:
    r = unchanged_world.call("GET", f"/handoffs/{unchanged_world.works[0]}", unchanged_world.works_key)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["citizen"]["name"] == "فاطمة علي"
    assert body["citizen"]["cpr"] is None and body["citizen"]["mobile"] is None  # M3: the default share is the name
    assert body["description"] == "توجد حفرة عميقة في الشارع تسبب أضراراً للسيارات."
    assert body["location"]["governorate"] == "northern"
    assert body["state"] == "delivered"
    assert body["agency_reference"].startswith("STUB-")
    assert "answered" in body["accepts"]
    assert (
        unchanged_world.call("GET", f"/handoffs/{unchanged_world.accepted}", unchanged_world.works_key).json()[
            "accepts"
        ]
        == []
    )


def test_an_agency_acknowledges_and_answers_and_the_case_is_answered(world: World) -> None:
    handoff = world.works[0]
    ack = world.call(
        "POST",
        f"/handoffs/{handoff}/messages",
        world.works_key,
        json={"kind": "acknowledged", "text": "تم الاستلام", "agency_reference": "MOW-2026-88812"},
    )
    assert ack.status_code == 201, ack.text
    assert ack.json()["handoff_state"] == "acknowledged"
    answer = "تم ردم الحفرة وإعادة رصف الشارع."
    done = world.call(
        "POST", f"/handoffs/{handoff}/messages", world.works_key, json={"kind": "answered", "text": answer}
    )
    assert done.status_code == 201, done.text
    assert done.json() == {
        "message": done.json()["message"],
        "handoff": handoff,
        "handoff_state": "answered",
        "duplicate": False,
    }

    with world.hub.engine.connect() as conn:
        case_id = conn.execute(select(handoffs.c.case_id).where(handoffs.c.id == handoff)).scalar_one()
        read = get_case(conn, case_id)
        trail = events.for_case(conn, case_id)
    assert read.state == "answered"
    assert read.handoffs[0].agency_reference == "MOW-2026-88812"
    assert [e.type for e in trail][-3:] == ["message.acknowledged", "message.answered", "case.answered"]
    assert trail[-2].data["text"] == answer
    assert {e.actor for e in trail[-3:]} == {f"agency:{WORKS}"}
    detail = world.call("GET", f"/handoffs/{handoff}", world.works_key).json()
    assert [(m["kind"], m["text"]) for m in detail["messages"]] == [
        ("acknowledged", "تم الاستلام"),
        ("answered", answer),
    ]


def test_the_same_message_posted_twice_has_one_effect(world: World) -> None:
    path = f"/handoffs/{world.works[0]}/messages"
    body = {"kind": "progress", "text": "فريق الصيانة في الموقع."}
    keyed = [
        world.call("POST", path, world.works_key, json=body, headers={"Idempotency-Key": "mow-msg-1"}) for _ in range(2)
    ]
    assert [r.status_code for r in keyed] == [201, 200]
    assert keyed[0].json()["message"] == keyed[1].json()["message"]
    assert keyed[1].json()["duplicate"] is True
    unkeyed = [world.call("POST", path, world.works_key, json={**body, "text": "بدأ العمل."}) for _ in range(2)]
    assert [r.status_code for r in unkeyed] == [201, 200]
    with world.hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(agency_messages)).scalar_one() == 2


Send = Callable[[World], requests.Response]


def _post(handoff: Callable[[World], str], key: Callable[[World], str | None], **kwargs: Any) -> Send:
    return lambda w: w.call("POST", f"/handoffs/{handoff(w)}/messages", key(w), **kwargs)


def _works(w: World) -> str:
    return w.works[0]


def _works_key(w: World) -> str:
    return w.works_key


ANSWER = {"kind": "answered", "text": "تم الإصلاح."}

REFUSALS: dict[str, tuple[Send, int, str]] = {
    "missing key": (_post(_works, lambda w: None, json=ANSWER), 401, "missing X-API-Key"),
    "wrong key": (_post(_works, lambda w: w.works_key[:-4] + "0000", json=ANSWER), 401, "wrong API key"),
    "revoked key": (_post(_works, lambda w: w.revoked_key, json=ANSWER), 401, "was revoked"),
    "national system's key": (_post(_works, lambda w: API_KEY, json=ANSWER), 401, "malformed API key"),
    "another agency's handoff": (_post(lambda w: w.health, _works_key, json=ANSWER), 404, "no handoff"),
    "reading another agency's handoff": (
        lambda w: w.call("GET", f"/handoffs/{w.health}", w.works_key),
        404,
        "no handoff",
    ),
    "an answer before delivery": (_post(lambda w: w.pending, _works_key, json=ANSWER), 409, "handoff is pending"),
    "a second answer after acceptance": (
        _post(lambda w: w.accepted, _works_key, json=ANSWER),
        409,
        "handoff is accepted",
    ),
    "an oversized body": (
        _post(_works, _works_key, json={"kind": "answered", "text": "م" * 200_000}),
        413,
        "larger than",
    ),
    "an unknown kind": (_post(_works, _works_key, json={"kind": "closed", "text": "x"}), 422, "kind:"),
    "an unknown field": (_post(_works, _works_key, json={**ANSWER, "priority": 1}), 422, "priority:"),
    "an answer without text": (_post(_works, _works_key, json={"kind": "answered"}), 422, "text: required"),
    "a transfer to an unknown agency": (
        _post(_works, _works_key, json={"kind": "transfer_requested", "transfer_to": "no-such-agency"}),
        422,
        "transfer_to:",
    ),
    "a transfer to itself": (
        _post(_works, _works_key, json={"kind": "transfer_requested", "transfer_to": WORKS}),
        422,
        "already with this agency",
    ),
    "a body naming another handoff": (
        _post(_works, _works_key, json={**ANSWER, "handoff": "h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V"}),
        422,
        "handoff:",
    ),
    "a malformed handoff id": (_post(lambda w: "h_1", _works_key, json=ANSWER), 422, "handoff_id:"),
    "an overlong Idempotency-Key": (
        _post(_works, _works_key, json=ANSWER, headers={"Idempotency-Key": "k" * 151}),
        422,
        "Idempotency-Key:",
    ),
    "invalid UTF-8": (
        _post(
            _works,
            _works_key,
            data=b'{"kind": "answered", "text": "\xd8"}',
            headers={"Content-Type": "application/json"},
        ),
        400,
        "not valid UTF-8",
    ),
    "not JSON": (
        _post(_works, _works_key, data=b"{kind: answered", headers={"Content-Type": "application/json"}),
        422,
        "JSON",
    ),
}


@pytest.mark.parametrize(("send", "status", "reason"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_request_answers_a_clear_4xx_and_writes_nothing(
    unchanged_world: World, send: Send, status: int, reason: str
) -> None:
    before = snapshot(unchanged_world.hub)
    r = send(unchanged_world)
    assert r.status_code == status, r.text
    assert reason in json.dumps(r.json(), ensure_ascii=False)
    assert snapshot(unchanged_world.hub) == before


def test_an_illegal_transition_names_the_handoffs_state(unchanged_world: World) -> None:
    r = _post(lambda w: w.pending, _works_key, json=ANSWER)(unchanged_world)
    assert r.json() == {"detail": "handoff is pending; cannot answered", "state": "pending"}


def test_the_same_message_posted_at_once_on_postgresql_has_one_effect(pg_hub: Hub, tmp_path: Path) -> None:
    with running_world(tmp_path, pg_hub.settings.database_url) as w:
        path = f"/handoffs/{w.works[0]}/messages"

        def post(n: int) -> int:
            body = {"kind": "answered", "text": "تم ردم الحفرة."}
            headers = {"Idempotency-Key": "mow-answer-1"} if n % 2 else {}
            return w.call("POST", path, w.works_key, json=body, headers=headers).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(post, range(16)))
        with w.hub.engine.connect() as conn:
            keys = conn.execute(select(agency_messages.c.dedup_key)).scalars().all()
        assert statuses.count(201) == 2, statuses  # one per dedup key: the header, and the content
        assert set(statuses) == {200, 201}
        assert len(keys) == 2


def test_a_burst_of_agency_calls_waits_for_pooled_connections_instead_of_opening_more(
    pg_hub: Hub, tmp_path: Path
) -> None:
    """Beyond the pool, a connection was opened for one request and closed after it (issue 14)."""
    with running_world(tmp_path, pg_hub.settings.database_url, db_pool_size=3) as w:
        opened: list[object] = []
        event.listen(w.hub.engine, "connect", lambda conn, _record: opened.append(conn))

        def read(_: int) -> int:
            return w.call("GET", f"/handoffs/{w.works[0]}", w.works_key).status_code

        with ThreadPoolExecutor(24) as pool:
            statuses = list(pool.map(read, range(96)))
        assert statuses == [200] * 96
        assert w.hub.engine.pool.checkedout() == 0
    assert len(opened) <= 3, f"{len(opened)} connections opened for a pool of 3"


def test_an_agency_cannot_reopen_a_handoff_it_rejected(world: World) -> None:
    """M2: only the central office re-opens a failed handoff."""
    handoff = world.works[0]
    rejected = world.call(
        "POST", f"/handoffs/{handoff}/messages", world.works_key, json={"kind": "rejected", "text": "لا"}
    )
    assert rejected.status_code == 201, rejected.text
    for kind in ("acknowledged", "answered", "transfer_requested"):
        again = world.call("POST", f"/handoffs/{handoff}/messages", world.works_key, json={"kind": kind, "text": "نعم"})
        assert again.status_code == 409 and again.json()["state"] == "failed", kind


def test_a_transfer_an_agency_asks_for_waits_for_the_central_office(world: World) -> None:
    """M2: "not ours, send it to X" is a request; the central office (or a partner rule) decides."""
    from broker import followup, transfers

    handoff = world.works[0]
    body = {"kind": "transfer_requested", "text": "من اختصاص البلدية", "transfer_to": "northern-municipality"}
    asked = world.call("POST", f"/handoffs/{handoff}/messages", world.works_key, json=body)
    assert (asked.status_code, asked.json()["handoff_state"]) == (201, "delivered")
    with world.hub.engine.connect() as conn:
        [item] = [i for i in followup.queue(conn, WORKS) if i.handoff == handoff]
        case_id = conn.execute(select(handoffs.c.case_id).where(handoffs.c.id == handoff)).scalar_one()
        assert len(get_case(conn, case_id).handoffs) == 1  # nothing moved on the agency's word alone
    assert item.reason == "transfer_requested"
    transfers.decide(world.hub.engine, world.hub.directory, handoff, approve=True, actor="central-office:amina")
    with world.hub.engine.connect() as conn:
        moved = {(h.agency, h.state) for h in get_case(conn, case_id).handoffs}
    assert moved == {(WORKS, "transferred"), ("northern-municipality", "pending")}


def test_an_agency_sees_the_citizen_only_while_the_handoff_is_with_it(world: World) -> None:
    """M3: before delivery, and after a withdrawal, the case comes without the citizen's details."""
    from broker import transfers

    pending = world.call("GET", f"/handoffs/{world.pending}", world.works_key).json()
    assert pending["citizen"] is None
    transfers.cancel(world.hub.engine, world.hub.directory, world.works[0], reason="مكررة", actor="central-office:x")
    withdrawn = world.call("GET", f"/handoffs/{world.works[0]}", world.works_key).json()
    assert (withdrawn["state"], withdrawn["citizen"]) == ("cancelled", None)
    assert withdrawn["description"]  # the case itself stays readable


def test_an_idempotency_key_reused_with_another_message_is_refused(world: World) -> None:
    path = f"/handoffs/{world.works[0]}/messages"
    headers = {"Idempotency-Key": "msg-1"}
    first = world.call("POST", path, world.works_key, json={"kind": "progress", "text": "نعمل عليه"}, headers=headers)
    other = world.call("POST", path, world.works_key, json={"kind": "progress", "text": "شيء آخر"}, headers=headers)
    assert first.status_code == 201 and other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]


def test_an_agency_sending_too_many_messages_is_told_to_wait(world: World) -> None:
    """M2: messages are rate-limited per agency and per handoff, answered 429 with Retry-After."""
    world.hub.settings.message_burst = 3
    world.hub.settings.message_rate = 0.01
    path = f"/handoffs/{world.works[1]}/messages"
    codes = [
        world.call("POST", path, world.works_key, json={"kind": "progress", "text": f"تحديث {i}"}).status_code
        for i in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    limited = world.call("POST", path, world.works_key, json={"kind": "progress", "text": "مرة أخرى"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_a_handoff_holding_its_most_messages_takes_no_more_but_a_retry_is_still_recognised(world: World) -> None:
    """HUB_MESSAGES_PER_HANDOFF caps one handoff's messages; a repeat of a recorded one is still a 200."""
    world.hub.settings.messages_per_handoff = 2
    path = f"/handoffs/{world.works[1]}/messages"
    sent = [{"kind": "progress", "text": f"تحديث {i}"} for i in range(3)]
    codes = [world.call("POST", path, world.works_key, json=body).status_code for body in sent]
    assert codes == [201, 201, 429]
    refused = world.call("POST", path, world.works_key, json=sent[2])
    assert refused.status_code == 429 and "2 messages already" in refused.json()["detail"]
    again = world.call("POST", path, world.works_key, json=sent[0])
    assert again.status_code == 200 and again.json()["duplicate"] is True


def test_an_agency_required_to_sign_is_refused_unsigned_and_admitted_signed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """L2: an agency's configuration can require it to sign what it sends (the v2 scheme)."""
    from adapters.signing import signed_headers

    monkeypatch.setenv("WORKS_SIGNING", "works-callback-secret-0123456789")
    world.hub.directory.agencies[WORKS].sign_env = "WORKS_SIGNING"
    path = f"/agency/v1/handoffs/{world.works[0]}/messages"
    body = json.dumps({"kind": "progress", "text": "نعمل عليه"}, ensure_ascii=False).encode()
    plain = {"Content-Type": "application/json"}
    unsigned = world.call("POST", path.removeprefix("/agency/v1"), world.works_key, data=body, headers=dict(plain))
    assert unsigned.status_code == 401 and "must be signed" in unsigned.text
    signed = signed_headers("works-callback-secret-0123456789", "POST", path, body, idempotency_key="p-1")
    ok = world.call(
        "POST",
        path.removeprefix("/agency/v1"),
        world.works_key,
        data=body,
        headers={**plain, "Idempotency-Key": "p-1", **signed},
    )
    assert ok.status_code == 201, ok.text


def test_an_agency_reference_that_could_steer_a_url_is_refused(world: World) -> None:
    """L6: references are validated on the way in (and percent-encoded wherever they are used)."""
    path = f"/handoffs/{world.works[0]}/messages"
    for reference in ("../../moh/cases/T-9?admin=1", "T 1", "a" * 101):
        r = world.call("POST", path, world.works_key, json={"kind": "acknowledged", "agency_reference": reference})
        assert r.status_code == 422 and "agency_reference" in r.text, reference
