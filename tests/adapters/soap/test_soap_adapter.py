"""The SOAP adapter against the bundled SOAP agency simulator over real sockets (zeep here, lxml there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from string import Template

import pytest

from adapters.errors import PermanentDeliveryError, RetriableDeliveryError
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


def test_one_adapter_serves_many_worker_threads_at_once(soap_sim: Simulator) -> None:
    """The WSDL is loaded once under a lock; each thread's call is bounded and classified on its own."""
    from concurrent.futures import ThreadPoolExecutor

    from schemas import CaseIn

    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    cases = [
        CaseIn.model_validate({**SAMPLE_CASE.model_dump(), "reference": f"TW-2026-01{i:04d}", "subject": f"موضوع {i}"})
        for i in range(12)
    ]
    with ThreadPoolExecutor(6) as pool:
        receipts = list(pool.map(lambda case: adapter.deliver(envelope_for(agency, case=case)), cases))
    assert len({r.agency_reference for r in receipts}) == 12
    assert soap_sim.controller.wsdl_fetches == 1
    by_reference = {r.value("reference"): r.value("subject") for r in soap_sim.controller.requests(WORKS)}
    assert by_reference == {c.reference: c.subject for c in cases}


def test_a_slow_agency_within_the_limits_is_waited_for(soap_sim: Simulator) -> None:
    agency = cases_agency(soap_sim)
    soap_sim.controller.set_mode(WORKS, "slow", delay=0.5)
    assert soap_adapter(agency).deliver(envelope_for(agency)).agency_reference


def test_a_poll_pass_stops_at_an_unreachable_agency_and_skips_a_refused_ticket(soap_sim: Simulator) -> None:
    from structlog.testing import capture_logs

    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    ticket = adapter.deliver(envelope_for(agency)).agency_reference
    soap_sim.controller.set_status(WORKS, ticket or "", "ACK", "")
    items = [_item("CASE-UNKNOWN"), _item(ticket), _item(None)]  # an unknown ticket, a good one, none yet
    [message] = adapter.poll(items)
    assert message.agency_reference == ticket
    soap_sim.controller.set_mode(WORKS, "http-503", on="status")
    with capture_logs() as logs:
        assert adapter.poll([_item(ticket), _item(ticket)]) == []
    assert [e["event"] for e in logs if e["event"].startswith("poll.")] == ["poll.stopped"]  # one try per pass


@pytest.mark.parametrize(
    ("mode", "error", "mentions"),
    [
        ("client-fault", PermanentDeliveryError, "SOAP fault soap:Sender"),
        ("server-fault", RetriableDeliveryError, "SOAP fault soap:Receiver"),
        ("auth-fault", PermanentDeliveryError, "refused the hub's credentials"),
        ("http-500", RetriableDeliveryError, "HTTP 500 without a SOAP fault"),
        ("billion-laughs", PermanentDeliveryError, "declares XML entities"),
    ],
)
def test_soap_12_faults_read_as_their_11_counterparts(
    soap_sim: Simulator, mode: str, error: type, mentions: str
) -> None:
    agency = tickets_agency(soap_sim)
    adapter = soap_adapter(agency)
    adapter.port()
    soap_sim.controller.set_mode(agency.id, mode)
    with pytest.raises(error) as caught:
        adapter.deliver(envelope_for(agency))
    assert mentions in str(caught.value)


def test_attachments_go_as_links_or_inline_as_base64(soap_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Links by default; `base64` fetches each file from a trusted store and sends its bytes as text."""
    import base64
    import hashlib

    from adapters.testing.rest_agency import running_simulator as file_store
    from schemas import CaseIn

    data = b"%PDF-1.4 receipt"
    with file_store() as (store, controller):
        controller.files["receipt.pdf"] = ("application/pdf", data)
        monkeypatch.setenv("HUB_ATTACHMENT_HOSTS", store)
        attachment = {
            "filename": "إيصال.pdf",
            "content_type": "application/pdf",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "url": f"{store}/_sim/files/receipt.pdf",
        }
        case = CaseIn.model_validate({**SAMPLE_CASE.model_dump(), "attachments": [attachment]})
        links = cases_agency(soap_sim)
        soap_adapter(links).deliver(envelope_for(links, case=case))
        [call] = soap_sim.controller.requests(WORKS)
        assert (call.value("attachment/fileName"), call.value("attachment/url")) == ("إيصال.pdf", attachment["url"])

        fields = {**links.adapter.settings["submit"]["parameters"]["fields"]}
        fields["attachment"] = "attachments[].{fileName: filename, url: content_base64}"
        submit = {
            **links.adapter.settings["submit"],
            "parameters": {**links.adapter.settings["submit"]["parameters"], "fields": fields},
        }
        inline = cases_agency(soap_sim, "ministry-of-housing", submit=submit, attachments={"mode": "base64"})
        soap_adapter(inline).deliver(envelope_for(inline, case=case))
        [sent] = soap_sim.controller.requests("ministry-of-housing")
        assert base64.b64decode(sent.value("attachment/url") or "") == data


def test_integrators_get_the_simulator_as_a_pytest_fixture(soap_agency_simulator: Simulator) -> None:
    """The contract kit's pytest plugin serves the SOAP simulator too, for an integrator's own tests."""
    import requests

    answer = requests.get(soap_agency_simulator.wsdl("my-agency"), timeout=5)
    assert answer.status_code == 200
    assert f"{soap_agency_simulator.url}/my-agency" in answer.text
