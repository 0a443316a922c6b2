"""The README's SOAP walkthrough works as written: its YAML block, pointed at the simulator, delivers and polls."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from adapters.testing import envelope_for, follow_on_for
from adapters.testing.soap_agency import TICKETS, Credentials, Simulator
from schemas import AgencyConfig, CaseIn, FollowOnKind, MessageKind, PollItem
from tests.soap_agencies import soap_adapter, soap_sim
from tests.test_readme import block

__all__ = ["soap_sim"]


def readme_agency(sim: Simulator) -> AgencyConfig:
    """The README's SOAP agency, its WSDL and service on the simulator instead of the agency's server."""
    [raw] = yaml.safe_load(block("soap-example"))
    adapter: dict[str, Any] = raw["adapter"]
    adapter["wsdl"] = sim.wsdl(raw["id"])
    adapter["plain_http"] = True
    sim.controller.profiles[raw["id"]] = TICKETS
    return AgencyConfig.model_validate(raw)


def test_the_readme_soap_example_fits_its_wsdl_delivers_and_polls(
    soap_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOW_SOAP_PASSWORD", "mow-password")
    agency = readme_agency(soap_sim)
    soap_sim.controller.credentials[agency.id] = Credentials("tawasul-hub", "mow-password", frozenset({"PasswordText"}))
    adapter = soap_adapter(agency)
    assert adapter.problems() == []
    case = CaseIn.model_validate({**envelope_for(agency).case.model_dump(), "citizen": {"name": "فاطمة علي"}})
    envelope = envelope_for(agency, case=case)
    ticket = adapter.deliver(envelope).agency_reference
    assert ticket is not None
    [call] = soap_sim.controller.requests(agency.id)
    assert call.value("Request/Content/Category") == "ROADS"
    assert call.value("Request/Content/Narrative") == case.description

    item = PollItem(handoff_id=envelope.handoff_id, agency_reference=ticket, state="delivered")
    soap_sim.controller.set_status(agency.id, ticket, "WAITING_CUSTOMER", "ما رقم الشارع؟")
    [question] = adapter.poll([item])
    assert question.kind == MessageKind.needs_info
    adapter.follow_on(follow_on_for(agency, FollowOnKind.citizen_reply, agency_reference=ticket))
    assert len(soap_sim.controller.notes(agency.id, ticket)) == 1
    soap_sim.controller.set_status(agency.id, ticket, "RESOLVED", "تم إصلاح الحفرة")
    [answer] = adapter.poll([item])
    assert (answer.kind, answer.text) == (MessageKind.answered, "تم إصلاح الحفرة")
