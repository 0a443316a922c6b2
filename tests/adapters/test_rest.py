"""The REST adapter over real sockets, against the bundled agency simulator."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from requests_toolbelt.multipart.decoder import MultipartDecoder

from adapters.errors import PermanentDeliveryError, RetriableDeliveryError
from adapters.rest import RestAdapter
from adapters.signing import verify
from adapters.testing import SAMPLE_CASE, AdapterContract, envelope_for
from adapters.testing.rest_agency import NESTED, Controller, running_simulator
from broker.hub import Hub
from schemas import AgencyConfig, CaseIn
from tests.conftest import make_case
from tests.rest_agencies import SECRET, SECRET_ENV, change_adapter, deliver, hub_on_simulator, rest_agency
from tests.support import free_port, pump, wait_until

Sim = tuple[str, Controller]


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sim]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with running_simulator() as (url, controller):
        controller.secrets["*"] = SECRET
        yield url, controller


@pytest.fixture
def hub(sqlite_hub: Hub, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    return hub_on_simulator(sqlite_hub, sim, tmp_path, monkeypatch)


def adapter_for(url: str, **settings: Any) -> tuple[RestAdapter, AgencyConfig]:
    agency = rest_agency(url, **settings)
    adapter = RestAdapter.from_config(agency)
    assert isinstance(adapter, RestAdapter)
    return adapter, agency


class TestRestAdapterContract(AdapterContract):
    adapter_class = RestAdapter
    agency = rest_agency("http://127.0.0.1:9")

    @pytest.fixture(autouse=True)
    def _pointed_at_the_simulator(self, sim: Sim) -> None:
        self.agency = rest_agency(sim[0])  # type: ignore[misc]


def test_a_case_is_delivered_end_to_end_and_keeps_the_agencys_ticket_id(hub: Hub, sim: Sim) -> None:
    h = deliver(hub, make_case(category="housing-applications"))
    assert h["agency_id"] == "ministry-of-housing"
    assert h["state"] == "delivered"
    [request] = sim[1].requests("ministry-of-housing")
    assert h["agency_reference"].startswith("MOH-")
    assert request.headers["Idempotency-Key"] == h["id"]
    assert request.signature_ok is True
    assert request.headers["X-API-Key"]  # the shipped config names MHO_API_KEY; the demo makes one up


FAILURES = [
    # (simulator mode, mode options, adapter changes, error raised, handoff state, follow-up mentions)
    ("hang", {"hang_seconds": 5}, {"read_timeout": 0.3}, RetriableDeliveryError, "pending", None),
    ("refused", {}, {}, RetriableDeliveryError, "pending", None),
    ("500", {}, {}, RetriableDeliveryError, "pending", None),
    ("503", {"retry_after": "7"}, {}, RetriableDeliveryError, "pending", None),
    ("429", {"retry_after": "Wed, 21 Oct 2099 07:28:00 GMT"}, {}, RetriableDeliveryError, "pending", None),
    ("drop", {}, {}, RetriableDeliveryError, "pending", None),
    ("400", {}, {}, PermanentDeliveryError, "failed", "validation failed: field 'title' is required"),
    ("401", {}, {}, PermanentDeliveryError, "failed", "401 Unauthorized"),
    ("invalid-json", {}, {}, PermanentDeliveryError, "failed", "not JSON"),
    ("no-ticket", {}, {}, PermanentDeliveryError, "failed", "without a ticket id"),
]


def _set_up(sim: Sim, mode: str, options: dict[str, Any]) -> str:
    """The simulator behaves as `mode`; returns the base URL to use ('refused': nobody listens)."""
    url, controller = sim
    if mode == "refused":
        return f"http://127.0.0.1:{free_port()}"
    controller.set_mode("ministry-of-housing", mode, **options)
    return url


@pytest.mark.parametrize(("mode", "options", "changes", "error", "state", "mentions"), FAILURES)
def test_each_failure_raises_the_error_that_says_what_happens_next(
    sim: Sim, mode: str, options: dict[str, Any], changes: dict[str, Any], error: type, state: str, mentions: str
) -> None:
    adapter, agency = adapter_for(_set_up(sim, mode, options), **changes)
    with pytest.raises(error) as caught:
        adapter.deliver(envelope_for(agency))
    assert type(caught.value) is error
    if mentions:
        assert mentions in f"{caught.value} {caught.value.response_excerpt}"
    if mode == "503":
        assert caught.value.retry_after == 7.0
    if mode == "429":
        assert caught.value.retry_after > 86400  # an HTTP date far ahead: honoured as seconds from now


@pytest.mark.parametrize(("mode", "options", "changes", "error", "state", "mentions"), FAILURES)
def test_each_failure_ends_the_handoff_in_the_right_state(
    hub: Hub,
    sim: Sim,
    mode: str,
    options: dict[str, Any],
    changes: dict[str, Any],
    error: type,
    state: str,
    mentions: str | None,
) -> None:
    url = _set_up(sim, mode, options)
    change_adapter(hub, "ministry-of-housing", base_url=f"{url}/ministry-of-housing", **changes)
    h = deliver(hub, make_case(category="housing-applications"))
    assert h["state"] == state
    assert h["attempts"] == 1
    if state == "failed":
        assert h["followup"].startswith("delivery failed (refused)")
        assert mentions in h["followup"]
    else:
        assert h["followup"] is None
        assert h["last_error"]


def test_a_retry_carries_the_same_idempotency_key_and_gets_the_same_ticket(hub: Hub, sim: Sim) -> None:
    sim[1].set_mode("ministry-of-housing", "503", retry_after="0", times=1)
    case = make_case(category="housing-applications")
    first = deliver(hub, case)
    assert first["state"] == "pending"

    def delivered() -> bool:
        pump(hub)
        return deliver(hub, case)["state"] == "delivered"

    wait_until(delivered, "the retry to deliver")
    requests = sim[1].requests("ministry-of-housing")
    assert len(requests) == 2
    assert {r.headers["Idempotency-Key"] for r in requests} == {first["id"]}
    assert all(r.signature_ok for r in requests)


def test_the_signature_verifies_with_the_documented_algorithm(sim: Sim) -> None:
    adapter, agency = adapter_for(sim[0])
    adapter.deliver(envelope_for(agency))
    [r] = sim[1].requests()
    assert verify(SECRET, r.headers["X-Tawasul-Timestamp"], r.headers["X-Tawasul-Signature"], r.body)
    assert not verify("another-secret", r.headers["X-Tawasul-Timestamp"], r.headers["X-Tawasul-Signature"], r.body)


def test_a_wrong_signing_secret_is_refused_by_the_agency(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "not-the-shared-secret")
    adapter, agency = adapter_for(sim[0])
    with pytest.raises(PermanentDeliveryError, match="401"):
        adapter.deliver(envelope_for(agency))
    assert sim[1].requests()[0].signature_ok is False


def test_arabic_reaches_the_agency_byte_for_byte(sim: Sim) -> None:
    adapter, agency = adapter_for(sim[0])
    adapter.deliver(envelope_for(agency))
    [r] = sim[1].requests()
    for text in (SAMPLE_CASE.subject, SAMPLE_CASE.description, SAMPLE_CASE.citizen.name):
        assert text.encode("utf-8") in r.body  # raw UTF-8, never \\u escapes
    assert r.json()["case"]["description"] == SAMPLE_CASE.description
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"


def test_a_differently_shaped_agency_works_by_configuration_only(hub: Hub, sim: Sim) -> None:
    sim[1].profiles["northern-municipality"] = NESTED
    case = make_case(category="street-lighting", location={"governorate": "northern", "block": "525", "road": "2511"})
    h = deliver(hub, case)
    assert (h["agency_id"], h["state"]) == ("northern-municipality", "delivered")
    [r] = sim[1].requests("northern-municipality")
    body = r.json()["request"]
    assert body["header"] == {
        "source": "TAWASUL",
        "externalRef": case.reference,
        "trackingId": h["id"],
        "requestType": "1",
    }
    assert body["content"]["subject"] == case.subject
    assert body["content"]["receivedOn"] == "22/11/2026 09:14"
    assert body["content"]["area"] == {"block": "525", "road": "2511"}
    assert case.subject.encode() in r.body
    assert r.headers["Authorization"].startswith("Bearer ")
    assert h["agency_reference"].startswith("NM-")


def test_a_field_map_translates_codes_and_dates(hub: Hub, sim: Sim) -> None:
    deliver(hub, make_case(category="housing-applications", kind="suggestion"))
    [r] = sim[1].requests("ministry-of-housing")
    body = r.json()
    assert body["type"] == "SUG"
    assert body["opened"] == "2026-11-22T09:14:00+0300"
    assert body["citizen"]["name"] == "فاطمة علي"


def test_a_kind_missing_from_the_code_list_goes_to_follow_up(sim: Sim) -> None:
    body = {"fields": {"type": {"path": "case.kind", "codes": "kind"}}, "codes": {"kind": {"inquiry": "Q"}}}
    adapter, agency = adapter_for(sim[0], body=body)
    with pytest.raises(PermanentDeliveryError, match="no code for 'complaint'"):
        adapter.deliver(envelope_for(agency))
    assert sim[1].requests() == []


AUTH = [
    ({"type": "api_key", "header": "X-Agency-Key", "key_env": "TEST_KEY"}, "X-Agency-Key", "k-123"),
    ({"type": "bearer", "token_env": "TEST_KEY"}, "Authorization", "Bearer k-123"),
    (
        {"type": "basic", "username": "tawasul", "password_env": "TEST_KEY"},
        "Authorization",
        "Basic dGF3YXN1bDprLTEyMw==",
    ),
]


@pytest.mark.parametrize(("auth", "header", "value"), AUTH)
def test_credentials_come_from_the_environment_at_call_time(
    sim: Sim, monkeypatch: pytest.MonkeyPatch, auth: dict[str, str], header: str, value: str
) -> None:
    adapter, agency = adapter_for(sim[0], auth=auth)
    with pytest.raises(RetriableDeliveryError, match="TEST_KEY is not set"):
        adapter.deliver(envelope_for(agency))
    monkeypatch.setenv("TEST_KEY", "k-123")
    adapter.deliver(envelope_for(agency))
    assert sim[1].requests()[-1].headers[header] == value
    assert "k-123" not in json.dumps(adapter.describe())


def test_an_oauth2_token_is_cached_and_fetched_again_when_refused(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    url, controller = sim
    monkeypatch.setenv("TEST_CLIENT_SECRET", "cs-1")
    auth = {
        "type": "oauth2",
        "token_url": f"{url}/_sim/oauth/token",
        "client_id": "hub",
        "client_secret_env": "TEST_CLIENT_SECRET",
    }
    adapter, agency = adapter_for(url, auth=auth)
    adapter.deliver(envelope_for(agency))
    adapter.deliver(envelope_for(agency, attempt=2))
    assert controller.tokens_issued == 1
    controller.revoke_tokens()
    adapter.deliver(envelope_for(agency, attempt=3))
    assert controller.tokens_issued == 2
    statuses = [r.headers["Authorization"] for r in controller.requests()]
    assert len(statuses) == 4 and statuses[2] == statuses[1] != statuses[3]


PDF = b"%PDF-1.4 " + "تقرير".encode() * 100


def _case_with(base: str, name: str = "report.pdf", **over: Any) -> CaseIn:
    """The sample case with one attachment the simulator serves as `name`."""
    attachment = {
        "filename": "تقرير.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "url": f"{base}/_sim/files/{name}",
        **over,
    }
    return CaseIn.model_validate(SAMPLE_CASE.model_dump(mode="json") | {"attachments": [attachment]})


def test_attachments_go_as_links_by_default(sim: Sim) -> None:
    adapter, agency = adapter_for(sim[0])
    adapter.deliver(envelope_for(agency, case=_case_with(sim[0])))
    [entry] = sim[1].requests()[0].json()["attachments"]
    assert entry["url"].endswith("/_sim/files/report.pdf")
    assert entry["filename"] == "تقرير.pdf"


def test_attachments_can_be_fetched_and_sent_inline_as_base64(sim: Sim) -> None:
    sim[1].files["report.pdf"] = ("application/pdf", PDF)
    adapter, agency = adapter_for(sim[0], attachments={"mode": "base64"})
    adapter.deliver(envelope_for(agency, case=_case_with(sim[0])))
    [entry] = sim[1].requests()[0].json()["attachments"]
    assert base64.b64decode(entry["content_base64"]) == PDF
    assert "url" not in entry


def test_attachments_can_be_sent_as_multipart_parts_under_one_signature(sim: Sim) -> None:
    sim[1].files["report.pdf"] = ("application/pdf", PDF)
    adapter, agency = adapter_for(sim[0], attachments={"mode": "multipart"})
    adapter.deliver(envelope_for(agency, case=_case_with(sim[0])))
    [r] = sim[1].requests()
    assert r.signature_ok is True
    case_part, file_part = MultipartDecoder(r.body, r.headers["Content-Type"]).parts
    assert json.loads(case_part.content)["case"]["subject"] == SAMPLE_CASE.subject
    assert file_part.content == PDF


ATTACHMENT_REFUSALS = [
    (
        {"attachments": {"allowed_types": ["application/pdf"]}},
        {"content_type": "video/mp4"},
        "does not accept video/mp4",
    ),
    ({"attachments": {"max_bytes": 100}}, {}, "accepts at most 100"),
    ({"attachments": {"mode": "base64", "max_bytes": 500}}, {"size": 10}, "larger than the 500 bytes"),
    ({"attachments": {"mode": "base64"}}, {"sha256": "0" * 64}, "does not match its sha256"),
    ({"attachments": {"mode": "base64"}}, {"url": None}, "has no URL"),
]


@pytest.mark.parametrize(("settings", "attachment", "reason"), ATTACHMENT_REFUSALS)
def test_an_attachment_the_agency_cannot_take_goes_to_follow_up(
    sim: Sim, settings: dict[str, Any], attachment: dict[str, Any], reason: str
) -> None:
    sim[1].files["report.pdf"] = ("application/pdf", PDF)
    adapter, agency = adapter_for(sim[0], **settings)
    with pytest.raises(PermanentDeliveryError, match=reason):
        adapter.deliver(envelope_for(agency, case=_case_with(sim[0], **attachment)))
    assert sim[1].requests() == []


def test_a_missing_attachment_download_is_permanent_and_a_flaky_one_retriable(sim: Sim) -> None:
    adapter, agency = adapter_for(sim[0], attachments={"mode": "base64"})
    with pytest.raises(PermanentDeliveryError, match="404"):
        adapter.deliver(envelope_for(agency, case=_case_with(sim[0], name="missing.pdf")))
    with pytest.raises(RetriableDeliveryError):
        adapter.deliver(envelope_for(agency, case=_case_with(f"http://127.0.0.1:{free_port()}")))


BAD_SETTINGS = [
    ({"body": {"template": "{{ case.subject "}}, "template line 1"),
    ({"body": {"template": "{}", "fields": {"a": "case.kind"}}}, "not both"),
    ({"body": {"fields": {"a": {"path": "case.kind", "codes": "nope"}}}}, "no code list 'nope'"),
    ({"ticket": "a[?"}, "ticket"),
    ({"headers": {"Authorization": "Bearer x"}}, "set by the hub"),
    ({"success_statuses": [200, 404]}, "must be 2xx"),
    ({"poll": {"path": "/cases/{id}", "status": "s", "codes": {}}}, "agency_reference"),
    ({"auth": {"type": "api_key", "key_env": "lower-case"}}, "key_env"),
    ({"auth": {"type": "api_key", "key_env": "K", "key": "inline secret"}}, "key"),
    ({"tls": {"client_cert": "/no/such/cert.pem"}}, "client_cert"),
    ({"deliver_path": "/cases/{cpr}"}, "only {handoff_id} and {reference}"),
]


@pytest.mark.parametrize(("settings", "problem"), BAD_SETTINGS)
def test_a_bad_adapter_block_is_refused_at_start_up(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        RestAdapter.from_config(rest_agency("http://127.0.0.1:9", **settings))


def test_one_adapter_serves_many_worker_threads_at_once(sim: Sim) -> None:
    adapter, agency = adapter_for(sim[0])
    envelopes = [envelope_for(agency).model_copy(update={"idempotency_key": f"h_{i}"}) for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        receipts = list(pool.map(adapter.deliver, envelopes))
    assert len({r.agency_reference for r in receipts}) == 12
    recorded = sim[1].requests()
    assert sorted(r.headers["Idempotency-Key"] for r in recorded) == sorted(e.idempotency_key for e in envelopes)
    assert all(r.signature_ok for r in recorded)


def test_the_template_sandbox_refuses_to_reach_python_internals(sim: Sim) -> None:
    template = '{"x": {{ case.__class__.__mro__ | tojson }}}'
    adapter, agency = adapter_for(sim[0], body={"template": template})
    with pytest.raises(PermanentDeliveryError, match="body mapping failed"):
        adapter.deliver(envelope_for(agency))


def _issue(name: str, issuer: tuple[Any, Any] | None, folder: Path, *, server: bool = False) -> tuple[Any, Any]:
    """A key and certificate for `name`, signed by `issuer` (self-signed CA when None); written as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_cert, signer_key = issuer or (None, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_cert.subject if signer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    cert = builder.sign(signer_key, hashes.SHA256())
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, key


def test_a_client_certificate_opens_an_agency_that_requires_mutual_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    monkeypatch.setenv(SECRET_ENV, SECRET)
    ca = _issue("agency-ca", None, tmp_path)
    _issue("server", ca, tmp_path, server=True)
    _issue("hub-client", ca, tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tmp_path / "agency-ca.pem")
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    with running_simulator(tls=context) as (url, controller):
        assert url.startswith("https://")
        tls = {
            "client_cert": str(tmp_path / "hub-client.pem"),
            "client_key": str(tmp_path / "hub-client.key"),
            "ca_bundle": str(tmp_path / "agency-ca.pem"),
        }
        adapter, agency = adapter_for(url, tls=tls)
        assert adapter.deliver(envelope_for(agency)).agency_reference
        without, _ = adapter_for(url, tls={"ca_bundle": tls["ca_bundle"]})
        with pytest.raises(RetriableDeliveryError, match="unreachable"):
            without.deliver(envelope_for(agency))
        assert len(controller.requests()) == 1


def test_a_deadline_reminder_reaches_the_agency_signed_and_in_both_languages(sim: Sim) -> None:
    from datetime import UTC, datetime

    from schemas import Reminder, ReminderKind

    adapter, _agency = adapter_for(sim[0], remind_path="/cases/{agency_reference}/reminders")
    reminder = Reminder(
        handoff_id="h_01JREMIND",
        case_reference="TW-2026-000101",
        agency_reference="MOH-77",
        kind=ReminderKind.warning,
        answer_due_at=datetime(2026, 12, 3, 11, 0, tzinfo=UTC),
        text_ar="اقترب موعد الرد على الحالة TW-2026-000101",
        text_en="The answer to case TW-2026-000101 is due soon",
    )
    adapter.remind(reminder)
    [r] = sim[1].requests(path_suffix="/reminders")
    assert r.path.endswith("/cases/MOH-77/reminders") and r.signature_ok is True
    assert r.json()["text_ar"] == reminder.text_ar and r.json()["kind"] == "warning"


def test_without_a_remind_path_no_reminder_is_sent(sim: Sim) -> None:
    from datetime import UTC, datetime

    from schemas import Reminder, ReminderKind

    adapter, _agency = adapter_for(sim[0])
    due = datetime(2026, 12, 3, tzinfo=UTC)
    adapter.remind(
        Reminder(
            handoff_id="h_1",
            case_reference="TW-1",
            kind=ReminderKind.overdue,
            answer_due_at=due,
            text_ar="متأخر",
            text_en="late",
        )
    )
    assert sim[1].requests(path_suffix="/reminders") == []
