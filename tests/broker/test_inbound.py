"""Status polling and push callbacks of REST agencies, end to end against the simulator over real sockets.

Changes, not states: each change the agency makes is taken once, the same status reached again in
a later round is taken again, and where each read stopped is kept in the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.testing.rest_agency import NESTED, Controller, running_simulator
from broker import agency_keys, events, inbound, review, scheduler
from broker.deadlines import record_citizen_info
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.tables import agency_messages
from schemas import CitizenInfo
from tests.conftest import make_case
from tests.rest_agencies import change_adapter, deliver, handoff, hub_on_simulator
from tests.support import free_port, live_api, local_publish, pump, wait_until

Sim = tuple[str, Controller]
LABOUR = "ministry-of-labour"
HEALTH = "labour-disputes"


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_simulator() as started:
        yield started


@pytest.fixture
def hub(any_hub: Hub, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    return hub_on_simulator(any_hub, sim, tmp_path, monkeypatch)


def _trail(hub: Hub, case_id: str) -> list[str]:
    with hub.engine.connect() as conn:
        return [e.type for e in events.for_case(conn, case_id) if e.type.startswith(("message.", "case.answered"))]


def _texts(hub: Hub, handoff_id: str) -> list[tuple[str, str]]:
    with hub.engine.connect() as conn:
        query = (
            select(agency_messages.c.kind, agency_messages.c.text)
            .where(agency_messages.c.handoff_id == handoff_id)
            .order_by(agency_messages.c.created_at, agency_messages.c.id)
        )
        return [(kind, text) for kind, text in conn.execute(query)]


def test_each_change_of_a_polled_agency_is_recorded_once(hub: Hub, sim: Sim) -> None:
    h = deliver(hub, make_case(category=HEALTH))
    assert (h["agency_id"], h["state"]) == (LABOUR, "delivered")
    assert inbound.poll_agency(hub, LABOUR) == 0  # still NEW: not a code the hub maps

    sim[1].set_status(LABOUR, h["agency_reference"], "ACK", "قيد الدراسة")
    assert inbound.poll_agency(hub, LABOUR) == 1
    assert inbound.poll_agency(hub, LABOUR) == 0  # the same change read again: no second effect
    assert handoff(hub, case_id=h["case_id"])["state"] == "acknowledged"

    answer = "تم تحديد موعد جديد في المركز الصحي. A new appointment was set."
    sim[1].set_status(LABOUR, h["agency_reference"], "DONE", answer)
    assert inbound.poll_agency(hub, LABOUR) == 1
    assert handoff(hub, case_id=h["case_id"])["state"] == "answered"
    assert _trail(hub, h["case_id"]) == ["message.acknowledged", "message.answered", "case.answered"]
    assert ("answered", answer) in _texts(hub, h["id"])
    assert inbound.poll_agency(hub, LABOUR) == 0  # answered handoffs are no longer polled


def test_an_answer_returned_and_answered_again_is_taken_twice_in_order(hub: Hub, sim: Sim) -> None:
    h = deliver(hub, make_case(category=HEALTH))
    sim[1].set_status(LABOUR, h["agency_reference"], "DONE", "الجواب الأول")
    assert inbound.poll_agency(hub, LABOUR) == 1
    review.send_back(hub.engine, hub.directory, h["id"], "الرد غير كافٍ", actor="central-office:amina")
    assert inbound.poll_agency(hub, LABOUR) == 0  # nothing new at the agency yet
    sim[1].set_status(LABOUR, h["agency_reference"], "DONE", "الجواب الثاني")
    assert inbound.poll_agency(hub, LABOUR) == 1
    answers = [text for kind, text in _texts(hub, h["id"]) if kind == "answered"]
    assert answers == ["الجواب الأول", "الجواب الثاني"]
    assert handoff(hub, case_id=h["case_id"])["round"] == 2


def test_without_a_change_key_the_same_status_in_a_new_round_is_taken_again(hub: Hub, sim: Sim) -> None:
    """No change key configured: the status is keyed by the handoff's round (a question asked twice)."""
    poll = {"path": "/cases/{agency_reference}", "status": "status", "text": "note", "every_seconds": 5}
    change_adapter(hub, LABOUR, poll={**poll, "codes": {"ACK": "acknowledged", "INFO": "needs_info"}})
    h = deliver(hub, make_case(category=HEALTH))
    sim[1].set_status(LABOUR, h["agency_reference"], "INFO", "ما رقم الحساب؟")
    assert inbound.poll_agency(hub, LABOUR) == 1
    assert inbound.poll_agency(hub, LABOUR) == 0
    record_citizen_info(hub.engine, hub.directory, h["case_id"], CitizenInfo(text="الحساب 1234"), "national-system")
    sim[1].set_status(LABOUR, h["agency_reference"], "INFO", "ما رقم الحساب؟")  # the same words, a new round
    assert inbound.poll_agency(hub, LABOUR) == 1
    assert [kind for kind, _ in _texts(hub, h["id"])] == ["needs_info", "needs_info"]


def test_a_differently_shaped_agency_is_polled_by_handoff_id_with_its_own_codes(hub: Hub, sim: Sim) -> None:
    sim[1].profiles["northern-municipality"] = NESTED
    h = deliver(hub, make_case(category="street-lighting", location={"governorate": "northern"}))
    assert h["state"] == "delivered"
    sim[1].set_status("northern-municipality", h["id"], "20", "تم الاستلام")
    assert inbound.poll_agency(hub, "northern-municipality") == 1
    sim[1].set_status("northern-municipality", h["id"], "90", "تم إصلاح الإنارة")
    assert inbound.poll_agency(hub, "northern-municipality") == 1
    after = handoff(hub, case_id=h["case_id"])
    assert after["state"] == "answered"
    assert after["agency_reference"] == h["agency_reference"]
    assert len(sim[1].requests("northern-municipality")) == 1  # polls are GETs, never re-deliveries


def test_two_schedulers_polling_at_once_take_each_change_once(hub: Hub, sim: Sim) -> None:
    h = deliver(hub, make_case(category=HEALTH))
    sim[1].set_status(LABOUR, h["agency_reference"], "DONE", "تمت الإجابة")
    start = threading.Barrier(2)
    counts: list[int] = []

    def twin() -> None:
        start.wait()
        counts.append(inbound.poll_agency(hub, LABOUR))

    threads = [threading.Thread(target=twin) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(counts) == [0, 1]
    assert len(_texts(hub, h["id"])) == 1


def test_the_poll_cursor_survives_a_restart(hub: Hub, sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Restart the scheduler between two polls: the next pass goes on from where the first stopped."""
    monkeypatch.setattr(inbound, "BATCH", 2)
    made = [deliver(hub, make_case(category=HEALTH)) for _ in range(3)]
    for h in made:
        sim[1].set_status(LABOUR, h["agency_reference"], "ACK", "")
    assert inbound.poll_agency(hub, LABOUR) == 2  # the first two (a batch), then the cursor is stored
    restarted = Hub(hub.settings)  # a new process: nothing in memory
    assert inbound.read_cursor(restarted.engine, f"poll:{LABOUR}") == made[1]["id"]
    assert inbound.poll_agency(restarted, LABOUR) == 1  # the third, not the first two again
    assert inbound.poll_agency(restarted, LABOUR) == 0  # back at the start: nothing new
    assert {handoff(hub, case_id=h["case_id"])["state"] for h in made} == {"acknowledged"}
    restarted.engine.dispose()


def test_an_unreachable_agency_is_skipped_until_the_next_pass(hub: Hub, sim: Sim) -> None:
    h = deliver(hub, make_case(category=HEALTH))
    change_adapter(hub, LABOUR, base_url=f"http://127.0.0.1:{free_port()}/{LABOUR}")
    assert inbound.poll_agency(hub, LABOUR) == 0
    assert handoff(hub, case_id=h["case_id"])["state"] == "delivered"


def test_an_agency_is_read_in_its_own_thread_only_when_its_interval_has_passed(hub: Hub, sim: Sim) -> None:
    deliver(hub, make_case(category=HEALTH))
    started = inbound.read_agencies(hub)
    polled = {f"read-{LABOUR}", "read-northern-municipality", "read-telecommunications-regulatory-authority"}
    polled.add("read-ministry-of-culture")  # its inbox: replies by e-mail
    assert {t.name for t in started} == polled  # the shipped config's polled agencies (REST, SOAP) and inboxes
    for t in started:
        t.join(10)
    assert inbound.read_agencies(hub) == []  # the shipped interval is seconds long: nobody is due yet
    assert len(sim[1].requests(LABOUR, path_suffix="", method="GET")) == 1


def test_the_reading_job_is_one_of_the_schedulers_jobs() -> None:
    assert {"deadlines.sweep", "agencies.read"} <= {job.name for job in scheduler.default_jobs()}


def test_polling_mode_end_to_end_through_the_scheduler(hub: Hub, sim: Sim) -> None:
    """Relay, delivery and polling all run in the scheduler loop; the agency answers on its own."""
    poll = {
        "path": "/cases/{agency_reference}",
        "status": "status",
        "codes": {"ACK": "acknowledged", "DONE": "answered"},
        "every_seconds": 0.05,
    }
    change_adapter(hub, LABOUR, poll=poll)
    sim[1].set_mode(LABOUR, "ok", answer_after=0.2)
    case = make_case(category=HEALTH)
    [accepted] = submit_cases(hub.engine, hub.directory, [case], actor="national-system")
    stop = threading.Event()
    jobs = [j for j in scheduler.default_jobs() if j.name == "agencies.read"]
    loop = threading.Thread(target=scheduler.run, args=(hub, local_publish(hub), stop, jobs), daemon=True)
    loop.start()
    try:
        wait_until(lambda: handoff(hub, case_id=accepted.case_id)["state"] == "answered", "the polled answer")
    finally:
        stop.set()
        loop.join(10)
    assert _trail(hub, accepted.case_id)[-2:] == ["message.answered", "case.answered"]


def test_push_mode_end_to_end_through_the_agency_api(hub: Hub, sim: Sim) -> None:
    """The agency acknowledges and answers by calling the hub's agency API with its own key."""
    controller = sim[1]
    issued = agency_keys.create(hub.engine, hub.directory, "ministry-of-housing", created_by="test")
    with live_api(hub) as base:
        controller.hub_url = base
        controller.hub_keys["ministry-of-housing"] = issued.key
        controller.set_mode("ministry-of-housing", "ok", answer_after=0.1, push=True)
        h = deliver(hub, make_case(category="housing-applications"))
        assert h["state"] == "delivered"
        wait_until(lambda: handoff(hub, case_id=h["case_id"])["state"] == "answered", "the pushed answer")
    assert _trail(hub, h["case_id"]) == ["message.acknowledged", "message.answered", "case.answered"]
    with hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(agency_messages)).scalar_one() == 2
    pump(hub)
