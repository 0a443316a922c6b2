"""Status polling and push callbacks of REST agencies, end to end against the simulator over real sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.testing.rest_agency import NESTED, Controller, running_simulator
from broker import agency_keys, events, scheduler
from broker.hub import Hub
from broker.intake import submit_cases
from broker.polling import poll_agencies, poll_agency
from broker.store.tables import agency_messages
from tests.conftest import make_case
from tests.rest_agencies import change_adapter, deliver, handoff, hub_on_simulator
from tests.support import free_port, live_api, local_publish, wait_until

Sim = tuple[str, Controller]
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


def _messages(hub: Hub, handoff_id: str) -> int:
    with hub.engine.connect() as conn:
        query = select(func.count()).where(agency_messages.c.handoff_id == handoff_id)
        return int(conn.execute(query).scalar_one())


def test_each_status_change_of_a_polled_agency_is_recorded_once(hub: Hub, sim: Sim) -> None:
    h = deliver(hub, make_case(category=HEALTH))
    assert (h["agency_id"], h["state"]) == ("ministry-of-labour", "delivered")
    assert poll_agency(hub, "ministry-of-labour") == 0  # still NEW: not a code the hub maps

    sim[1].set_status("ministry-of-labour", h["agency_reference"], "ACK", "قيد الدراسة")
    assert poll_agency(hub, "ministry-of-labour") == 1
    assert poll_agency(hub, "ministry-of-labour") == 0  # the same status again: no second effect
    assert handoff(hub, case_id=h["case_id"])["state"] == "acknowledged"

    answer = "تم تحديد موعد جديد في المركز الصحي. A new appointment was set."
    sim[1].set_status("ministry-of-labour", h["agency_reference"], "DONE", answer)
    assert poll_agency(hub, "ministry-of-labour") == 1
    assert handoff(hub, case_id=h["case_id"])["state"] == "answered"
    assert _trail(hub, h["case_id"]) == ["message.acknowledged", "message.answered", "case.answered"]
    with hub.engine.connect() as conn:
        texts = conn.execute(select(agency_messages.c.text, agency_messages.c.source)).all()
    assert (answer, "rest-poll") in [tuple(t) for t in texts]
    assert poll_agency(hub, "ministry-of-labour") == 0  # answered handoffs are no longer polled


def test_a_differently_shaped_agency_is_polled_by_handoff_id_with_its_own_codes(hub: Hub, sim: Sim) -> None:
    sim[1].profiles["northern-municipality"] = NESTED
    h = deliver(hub, make_case(category="street-lighting", location={"governorate": "northern"}))
    assert h["state"] == "delivered"
    sim[1].set_status("northern-municipality", h["id"], "20", "تم الاستلام")
    assert poll_agency(hub, "northern-municipality") == 1
    sim[1].set_status("northern-municipality", h["id"], "90", "تم إصلاح الإنارة")
    assert poll_agency(hub, "northern-municipality") == 1
    after = handoff(hub, case_id=h["case_id"])
    assert after["state"] == "answered"
    assert after["agency_reference"] == h["agency_reference"]
    assert len(sim[1].requests("northern-municipality")) == 1  # polls are GETs, never re-deliveries


def test_two_schedulers_polling_at_once_take_each_change_once(hub: Hub, sim: Sim) -> None:
    h = deliver(hub, make_case(category=HEALTH))
    sim[1].set_status("ministry-of-labour", h["agency_reference"], "DONE", "تمت الإجابة")
    start = threading.Barrier(2)
    counts: list[int] = []

    def twin() -> None:
        start.wait()
        counts.append(poll_agency(hub, "ministry-of-labour"))

    threads = [threading.Thread(target=twin) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(counts) == [0, 1]
    assert _messages(hub, h["id"]) == 1


def test_an_unreachable_agency_is_skipped_until_the_next_pass(hub: Hub, sim: Sim) -> None:
    h = deliver(hub, make_case(category=HEALTH))
    change_adapter(hub, "ministry-of-labour", base_url=f"http://127.0.0.1:{free_port()}/ministry-of-labour")
    assert poll_agency(hub, "ministry-of-labour") == 0
    assert handoff(hub, case_id=h["case_id"])["state"] == "delivered"


def test_an_agency_is_polled_in_its_own_thread_only_when_its_interval_has_passed(hub: Hub, sim: Sim) -> None:
    deliver(hub, make_case(category=HEALTH))
    started = poll_agencies(hub)
    assert {t.name for t in started} == {"poll-ministry-of-labour", "poll-northern-municipality"}
    for t in started:
        t.join(10)
    assert poll_agencies(hub) == []  # the shipped interval is seconds long: nobody is due yet
    assert len(sim[1].requests("ministry-of-labour", path_suffix="", method="GET")) == 1


def test_the_polling_job_is_registered_with_the_scheduler() -> None:
    import broker.runner  # noqa: F401 - registers every periodic job

    assert "agency-polling" in [job.name for job in scheduler.PERIODIC]


def test_polling_mode_end_to_end_through_the_scheduler(hub: Hub, sim: Sim) -> None:
    """Relay, delivery and polling all run in the scheduler loop; the agency answers on its own."""
    poll = {
        "path": "/cases/{agency_reference}",
        "status": "status",
        "codes": {"ACK": "acknowledged", "DONE": "answered"},
        "every_seconds": 0.05,
    }
    change_adapter(hub, "ministry-of-labour", poll=poll)
    sim[1].set_mode("ministry-of-labour", "ok", answer_after=0.2)
    case = make_case(category=HEALTH)
    [accepted] = submit_cases(hub.engine, hub.directory, [case], actor="national-system")
    stop = threading.Event()
    jobs = [j for j in scheduler.PERIODIC if j.name == "agency-polling"]
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
