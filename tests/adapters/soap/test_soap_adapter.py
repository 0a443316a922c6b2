"""The SOAP adapter against the bundled SOAP agency simulator over real sockets (zeep here, lxml there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from string import Template

import pytest

from adapters.errors import PermanentDeliveryError
from adapters.testing import SAMPLE_CASE, envelope_for, follow_on_for
from adapters.testing.soap_agency import Credentials, Simulator
from broker.settings import PROJECT_ROOT
from schemas import FollowOnKind, MessageKind, PollItem
from tests.soap_agencies import PASSWORD, WORKS, cases_agency, soap_adapter, soap_sim, tickets_agency

__all__ = ["soap_sim"]


def _item(ticket: str | None, round_: int = 1) -> PollItem:
    return PollItem(
        handoff_id="h_01JCONTRACT0000000000000000", agency_reference=ticket, state="delivered", round=round_
    )


def test_a_case_is_submitted_then_polled_through_acknowledged_needs_info_and_answered(soap_sim: Simulator) -> None:
    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    receipt = adapter.deliver(envelope_for(agency))
    assert receipt.agency_reference == soap_sim.controller.tickets(WORKS)[0]
    ticket = receipt.agency_reference
    assert adapter.poll([_item(ticket)]) == []  # NEW: not a code the hub maps

    seen = []
    for code, text in (("ACK", "قيد الدراسة"), ("INFO", "ما رقم العداد؟"), ("DONE", "تم إصلاح الخط. Fixed.")):
        soap_sim.controller.set_status(WORKS, ticket, code, text)
        [message] = adapter.poll([_item(ticket)])
        assert (message.text, message.agency_reference, message.handoff) == (text, ticket, _item(ticket).handoff_id)
        seen.append(message)
        [again] = adapter.poll([_item(ticket)])
        assert again.dedup_key == message.dedup_key  # the same change read twice: one key
    assert [m.kind for m in seen] == [MessageKind.acknowledged, MessageKind.needs_info, MessageKind.answered]
    assert len({m.dedup_key for m in seen}) == 3


def test_the_same_status_again_is_a_new_change_by_the_agencys_revision(soap_sim: Simulator) -> None:
    """An answer sent back by the central office and answered again: the second answer has its own key."""
    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    ticket = adapter.deliver(envelope_for(agency)).agency_reference
    assert ticket is not None
    soap_sim.controller.set_status(WORKS, ticket, "DONE", "الجواب الأول")
    [first] = adapter.poll([_item(ticket)])
    soap_sim.controller.set_status(WORKS, ticket, "DONE", "الجواب الثاني")
    [second] = adapter.poll([_item(ticket, 2)])
    assert (first.text, second.text) == ("الجواب الأول", "الجواب الثاني")
    assert first.dedup_key != second.dedup_key


def test_a_follow_on_note_reaches_the_agency_with_its_arabic_intact(soap_sim: Simulator) -> None:
    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    ticket = adapter.deliver(envelope_for(agency)).agency_reference
    follow_on = follow_on_for(agency, FollowOnKind.citizen_reply, agency_reference=ticket)
    assert adapter.follow_on(follow_on).agency_reference == ticket
    text = f"{follow_on.follow_on.text_ar} — {follow_on.follow_on.text}"
    assert soap_sim.controller.notes(WORKS, ticket or "") == [(follow_on.follow_on.id, text)]
    [call] = soap_sim.controller.requests(WORKS, "note")
    assert call.value("noteType") == "CITIZEN_REPLY"


def test_a_second_submission_adopts_the_ticket_the_agency_already_has(soap_sim: Simulator) -> None:
    """The agency's own duplicate detection (by our reference): a DUPLICATE fault names the first ticket."""
    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    first = adapter.deliver(envelope_for(agency, attempt=1))
    again = adapter.deliver(envelope_for(agency, attempt=2))
    assert again.agency_reference == first.agency_reference
    assert soap_sim.controller.tickets(WORKS) == [first.agency_reference]
    assert adapter.capabilities.idempotent


def test_without_the_adopt_rule_a_duplicate_fault_goes_to_follow_up(soap_sim: Simulator) -> None:
    agency = cases_agency(soap_sim, faults={})
    adapter = soap_adapter(agency)
    adapter.deliver(envelope_for(agency))
    with pytest.raises(PermanentDeliveryError, match="DUPLICATE"):
        adapter.deliver(envelope_for(agency, attempt=2))


def test_a_lookup_finds_the_ticket_the_agency_already_made(soap_sim: Simulator) -> None:
    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    assert adapter.lookup(envelope_for(agency)) is None
    receipt = adapter.deliver(envelope_for(agency))
    found = adapter.lookup(envelope_for(agency))
    assert found is not None and found.agency_reference == receipt.agency_reference


def test_arabic_reaches_the_agency_byte_for_byte_and_comes_back_unchanged(soap_sim: Simulator) -> None:
    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    ticket = adapter.deliver(envelope_for(agency)).agency_reference
    [call] = soap_sim.controller.requests(WORKS)
    assert SAMPLE_CASE.subject.encode() in call.body  # UTF-8 on the wire, never character references
    assert SAMPLE_CASE.description.encode() in call.body
    assert call.value("subject") == SAMPLE_CASE.subject
    assert call.value("description") == SAMPLE_CASE.description
    text = "تم الإصلاح — «شكراً» ✓\nسطر ثانٍ: ١٢٣ / 123"
    soap_sim.controller.set_status(WORKS, ticket or "", "DONE", text)
    [message] = adapter.poll([_item(ticket)])
    assert message.text == text


def test_a_second_agency_with_another_wsdl_is_integrated_by_configuration_only(soap_sim: Simulator) -> None:
    """Other operation names, namespace, nesting, enumerations and SOAP 1.2: the same adapter class."""
    agency = tickets_agency(soap_sim)
    adapter = soap_adapter(agency)
    envelope = envelope_for(agency)
    receipt = adapter.deliver(envelope)
    [call] = soap_sim.controller.requests(agency.id)
    assert (call.operation, call.version) == ("CreateTicket", "1.2")
    assert b"http://ticketing.example.bh/v2" in call.body
    assert call.value("Request/Header/ExternalRef") == envelope.case.reference
    assert call.value("Request/Header/TicketType") == "1"
    assert call.value("Request/Content/Category") == "ROADS"
    assert call.value("Request/Content/ReceivedOn") == "2026-11-22"
    assert call.value("Request/Content/Title") == SAMPLE_CASE.subject
    assert receipt.agency_reference is not None and receipt.agency_reference.startswith("TKT-")
    # its own duplicate detection answers the first ticket again
    assert adapter.deliver(envelope_for(agency, attempt=2)).agency_reference == receipt.agency_reference

    soap_sim.controller.set_status(agency.id, receipt.agency_reference, "WAITING_CUSTOMER", "ما رقم الخط؟")
    [question] = adapter.poll([_item(receipt.agency_reference)])
    assert (question.kind, question.text) == (MessageKind.needs_info, "ما رقم الخط؟")
    reply = follow_on_for(agency, FollowOnKind.citizen_reply, agency_reference=receipt.agency_reference)
    adapter.follow_on(reply)
    assert soap_sim.controller.notes(agency.id, receipt.agency_reference) == [
        (reply.follow_on.id, reply.follow_on.text_ar)
    ]
    soap_sim.controller.set_status(agency.id, receipt.agency_reference, "RESOLVED", "تم")
    [answer] = adapter.poll([_item(receipt.agency_reference)])
    assert answer.kind == MessageKind.answered


def test_the_same_wsdl_can_be_called_through_its_soap_12_port(soap_sim: Simulator) -> None:
    agency = cases_agency(soap_sim, soap_version="1.2")
    adapter = soap_adapter(agency)
    assert adapter.deliver(envelope_for(agency)).agency_reference
    [call] = soap_sim.controller.requests(WORKS)
    assert call.version == "1.2"
    assert call.headers["Content-Type"].startswith("application/soap+xml")


@pytest.mark.parametrize(("digest", "accepted"), [(True, "PasswordDigest"), (False, "PasswordText")])
def test_password_digest_and_password_text_are_each_accepted_when_configured(
    soap_sim: Simulator, digest: bool, accepted: str
) -> None:
    soap_sim.controller.credentials[WORKS] = Credentials("hub", PASSWORD, frozenset({accepted}))
    agency = cases_agency(soap_sim, wsse={"username": "hub", "password_env": "TEST_SOAP_PASSWORD", "digest": digest})
    assert soap_adapter(agency).deliver(envelope_for(agency)).agency_reference
    [call] = soap_sim.controller.requests(WORKS)
    assert f"#{accepted}".encode() in call.body
    assert b"Nonce" in call.body and b"Created" in call.body and b"Timestamp" in call.body
    if digest:
        assert PASSWORD.encode() not in call.body  # a digest never carries the password itself


@pytest.mark.parametrize(
    ("wsse", "accept", "why"),
    [
        ({"digest": True}, {"PasswordText"}, "PasswordDigest is not accepted"),
        ({"digest": False}, {"PasswordDigest"}, "PasswordText is not accepted"),
        ({"username": "intruder"}, {"PasswordDigest"}, "unknown user"),
        ({"password_env": "TEST_SOAP_WRONG"}, {"PasswordDigest"}, "wrong password"),
        ({"timestamp": False}, {"PasswordDigest"}, "no Timestamp"),
    ],
)
def test_credentials_the_agency_refuses_are_permanent_and_say_so(
    soap_sim: Simulator, monkeypatch: pytest.MonkeyPatch, wsse: dict[str, object], accept: set[str], why: str
) -> None:
    monkeypatch.setenv("TEST_SOAP_WRONG", "not-the-password")
    soap_sim.controller.credentials[WORKS] = Credentials("hub", PASSWORD, frozenset(accept))
    settings = {"username": "hub", "password_env": "TEST_SOAP_PASSWORD", "digest": True, **wsse}
    agency = cases_agency(soap_sim, wsse=settings)
    with pytest.raises(PermanentDeliveryError) as caught:
        soap_adapter(agency).deliver(envelope_for(agency))
    assert "refused the hub's credentials" in str(caught.value)
    assert why in str(caught.value)
    assert soap_sim.controller.tickets(WORKS) == []


def test_http_basic_auth_is_sent_from_the_environment(soap_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SOAP_BASIC", "basic-secret")
    soap_sim.controller.basic[WORKS] = ("hub-basic", "basic-secret")
    agency = cases_agency(soap_sim, basic_auth={"username": "hub-basic", "password_env": "TEST_SOAP_BASIC"})
    assert soap_adapter(agency).deliver(envelope_for(agency)).agency_reference
    monkeypatch.setenv("TEST_SOAP_BASIC", "rotated-wrongly")
    with pytest.raises(PermanentDeliveryError, match="HTTP 401"):
        soap_adapter(agency).deliver(envelope_for(agency, attempt=2))


def test_the_wsdl_is_fetched_once_and_the_cache_serves_another_process(
    soap_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agency = cases_agency(soap_sim)
    first = soap_adapter(agency)
    first.deliver(envelope_for(agency))
    first.deliver(envelope_for(agency, attempt=2))
    assert soap_sim.controller.wsdl_fetches == 1
    script = (
        "from adapters.soap import SoapAdapter\n"
        "from schemas import AgencyConfig\n"
        "import json, sys\n"
        "agency = AgencyConfig.model_validate(json.loads(sys.stdin.read()))\n"
        "print(SoapAdapter.from_config(agency).problems())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=agency.model_dump_json(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert soap_sim.controller.wsdl_fetches == 1  # the other process read it from the shared cache


def test_a_wsdl_file_under_the_config_directory_is_used_with_its_endpoint(
    soap_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wsdl").mkdir()
    source = PROJECT_ROOT / "adapters" / "testing" / "soap_agency" / "cases.wsdl"
    text = Template(source.read_text(encoding="utf-8")).substitute(address="https://agency.invalid/cases")
    (tmp_path / "wsdl" / "works.wsdl").write_text(text, encoding="utf-8")
    monkeypatch.setenv("HUB_CONFIG_DIR", str(tmp_path))
    agency = cases_agency(soap_sim, wsdl="wsdl/works.wsdl", endpoint=f"{soap_sim.url}/{WORKS}")
    assert soap_adapter(agency).deliver(envelope_for(agency)).agency_reference
    assert soap_sim.controller.wsdl_fetches == 0
