"""A SOAP agency at the hub, end to end: a case submitted, delivered through SOAP, its statuses polled back.

The shipped agencies.yaml, with the Telecommunications Regulatory Authority played by the SOAP simulator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.testing.soap_agency import Simulator
from broker import events, inbound, review
from broker.deadlines import record_citizen_info
from broker.hub import Hub
from broker.store.tables import agency_messages
from schemas import CitizenInfo
from tests.conftest import make_case
from tests.rest_agencies import change_adapter, deliver, handoff
from tests.soap_agencies import TRA, hub_on_soap, soap_sim
from tests.support import pump, wait_until

__all__ = ["soap_sim"]


@pytest.fixture
def hub(any_hub: Hub, soap_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    return hub_on_soap(any_hub, soap_sim, tmp_path, monkeypatch)


def _texts(hub: Hub, handoff_id: str) -> list[tuple[str, str]]:
    with hub.engine.connect() as conn:
        query = (
            select(agency_messages.c.kind, agency_messages.c.text)
            .where(agency_messages.c.handoff_id == handoff_id)
            .order_by(agency_messages.c.created_at, agency_messages.c.id)
        )
        return [(kind, text) for kind, text in conn.execute(query)]


def _trail(hub: Hub, case_id: str) -> list[str]:
    with hub.engine.connect() as conn:
        return [e.type for e in events.for_case(conn, case_id) if e.type.startswith(("message.", "case.answered"))]


def test_a_case_goes_out_through_soap_and_its_polled_statuses_reach_the_hub(hub: Hub, soap_sim: Simulator) -> None:
    subject = "انقطاع الإنترنت منذ أسبوع — «عاجل» ١٢٣"
    h = deliver(hub, make_case(category="telecom-services", subject=subject))
    assert (h["agency_id"], h["state"], h["adapter"]) == (TRA, "delivered", "soap")
    [ticket] = soap_sim.controller.tickets(TRA)
    assert h["agency_reference"] == ticket
    [call] = soap_sim.controller.requests(TRA)
    assert call.value("subject") == subject
    assert "PasswordDigest" in call.body.decode()  # the shipped config's WS-Security, checked by the agency
    assert inbound.poll_agency(hub, TRA) == 0  # NEW: nothing the hub maps

    soap_sim.controller.set_status(TRA, ticket, "ACK", "قيد الدراسة")
    assert inbound.poll_agency(hub, TRA) == 1
    assert inbound.poll_agency(hub, TRA) == 0  # the same change read again: no second effect
    assert handoff(hub, case_id=h["case_id"])["state"] == "acknowledged"

    soap_sim.controller.set_status(TRA, ticket, "INFO", "ما رقم الخط الثابت؟")
    assert inbound.poll_agency(hub, TRA) == 1
    record_citizen_info(hub.engine, hub.directory, h["case_id"], CitizenInfo(text="الرقم ١٧٠٠٠٠٠٠"), "national-system")
    pump(hub)
    [(_, note)] = soap_sim.controller.notes(TRA, ticket)  # the citizen's reply, as a note
    assert "الرقم ١٧٠٠٠٠٠٠" in note
    [note_call] = soap_sim.controller.requests(TRA, "note")
    assert note_call.value("noteType") == "CITIZEN_REPLY"

    answer = "تمت إعادة الخدمة. Service restored."
    soap_sim.controller.set_status(TRA, ticket, "DONE", answer)
    assert inbound.poll_agency(hub, TRA) == 1
    assert handoff(hub, case_id=h["case_id"])["state"] == "answered"
    assert ("answered", answer) in _texts(hub, h["id"])
    assert _trail(hub, h["case_id"]) == [
        "message.acknowledged",
        "message.needs_info",
        "message.answered",
        "case.answered",
    ]
    assert len(soap_sim.controller.requests(TRA)) == 1  # polls are status calls, never re-deliveries


def test_an_answer_returned_by_the_central_office_and_answered_again_is_taken_twice(
    hub: Hub, soap_sim: Simulator
) -> None:
    h = deliver(hub, make_case(category="telecom-services"))
    ticket = h["agency_reference"]
    soap_sim.controller.set_status(TRA, ticket, "DONE", "الجواب الأول")
    assert inbound.poll_agency(hub, TRA) == 1
    review.send_back(hub.engine, hub.directory, h["id"], "الرد غير كافٍ", actor="central-office:amina")
    pump(hub)
    [(_, returned)] = soap_sim.controller.notes(TRA, ticket)  # the reviewer's reason reached the agency
    assert "الرد غير كافٍ" in returned
    assert inbound.poll_agency(hub, TRA) == 0  # nothing new at the agency yet
    soap_sim.controller.set_status(TRA, ticket, "DONE", "الجواب الثاني")
    assert inbound.poll_agency(hub, TRA) == 1
    answers = [text for kind, text in _texts(hub, h["id"]) if kind == "answered"]
    assert answers == ["الجواب الأول", "الجواب الثاني"]
    assert handoff(hub, case_id=h["case_id"])["round"] == 2


@pytest.mark.parametrize("asked", [True, False], ids=["lookup", "duplicate-detection"])
def test_a_delivery_that_may_have_arrived_ends_with_exactly_one_ticket(
    hub: Hub, soap_sim: Simulator, asked: bool
) -> None:
    """The agency made the ticket but its answer never came: asked (FindCase), or sent again and its
    duplicate detection names the first ticket; either way one ticket."""
    change_adapter(hub, TRA, read_timeout=2, total_timeout=2.5, **({} if asked else {"lookup": None}))
    soap_sim.controller.set_mode(TRA, "timeout-after-create", hang_seconds=5, times=1)
    case = make_case(category="telecom-services")
    first = deliver(hub, case)  # the first attempt cannot tell whether the agency took it
    assert first["state"] in ("pending", "delivered")  # the retry may already be due within the same pump

    def delivered() -> bool:
        pump(hub)
        return bool(handoff(hub, case_id=first["case_id"])["state"] == "delivered")

    wait_until(delivered, "the next attempt to deliver")
    done = handoff(hub, case_id=first["case_id"])
    assert soap_sim.controller.tickets(TRA, case.reference) == [done["agency_reference"]]
    submissions, finds = soap_sim.controller.requests(TRA), soap_sim.controller.requests(TRA, "find")
    if asked:  # asked, and its ticket adopted: not sent again
        assert (len(submissions), len(finds)) == (1, 1)
    else:  # sent again: the agency's duplicate detection named the first ticket
        assert len(submissions) >= 2 and not finds
