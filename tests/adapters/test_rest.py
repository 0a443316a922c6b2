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

from adapters.base import Adapter
from adapters.errors import AttachmentStoreError, PermanentDeliveryError, RetriableDeliveryError, UncertainDeliveryError
from adapters.rest import RestAdapter
from adapters.rest.adapter import fill
from adapters.signing import verify
from adapters.testing import SAMPLE_CASE, AdapterContract, envelope_for, follow_on_for, strings_in
from adapters.testing.rest_agency import NESTED, Controller, running_simulator
from broker.hub import Hub
from schemas import AgencyConfig, CaseIn, FollowOnKind, Inbound, PollItem
from tests.conftest import make_case
from tests.rest_agencies import SECRET, SECRET_ENV, change_adapter, deliver, hub_on_simulator, rest_agency
from tests.support import free_port, pump, wait_until

Sim = tuple[str, Controller]


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sim]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with running_simulator() as (url, controller):
        controller.secrets["*"] = SECRET
        monkeypatch.setenv("HUB_ATTACHMENT_HOSTS", url)  # the simulator's files are a trusted store here
        yield url, controller


@pytest.fixture
def hub(sqlite_hub: Hub, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    return hub_on_simulator(sqlite_hub, sim, tmp_path, monkeypatch)


def adapter_for(url: str, **settings: Any) -> tuple[RestAdapter, AgencyConfig]:
    agency = rest_agency(url, **settings)
    adapter = RestAdapter.from_config(agency)
    assert isinstance(adapter, RestAdapter)
    return adapter, agency


FOLLOW_ONS = {kind.value: {"path": "/cases/{agency_reference}/notes"} for kind in FollowOnKind}
POLL = {"path": "/cases/{agency_reference}", "status": "status", "codes": {"NEW": "acknowledged"}}


class TestRestAdapterContract(AdapterContract):
    adapter_class = RestAdapter
    agency = rest_agency("http://127.0.0.1:9", follow_ons=FOLLOW_ONS, poll=POLL)

    @pytest.fixture(autouse=True)
    def _pointed_at_the_simulator(self, sim: Sim) -> None:
        self.agency = rest_agency(sim[0], follow_ons=FOLLOW_ONS, poll=POLL)  # type: ignore[misc]
        self.controller = sim[1]

    def delivered_texts(self, adapter: Adapter) -> list[str]:
        return [text for r in self.controller.requests() for text in strings_in(r.json())]

    def inbound_sample(self, adapter: Adapter) -> list[Inbound]:
        [ticket] = self.controller.tickets("ministry-of-housing")
        items = [PollItem(handoff_id="h_01JCONTRACT0000000000000000", agency_reference=ticket, state="delivered")]
        return adapter.poll(items)


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
    # (simulator mode, mode options, adapter changes, error raised, handoff state, last error mentions)
    ("hang", {"hang_seconds": 5}, {"read_timeout": 0.3}, UncertainDeliveryError, "pending", "may have reached"),
    ("drip", {"delay": 0.1}, {"total_timeout": 0.5}, UncertainDeliveryError, "pending", "within 0.5 s"),
    ("refused", {}, {}, RetriableDeliveryError, "pending", "unreachable"),
    ("500", {}, {}, RetriableDeliveryError, "pending", "500"),
    ("503", {"retry_after": "7"}, {}, RetriableDeliveryError, "pending", "503"),
    ("429", {"retry_after": "Wed, 21 Oct 2099 07:28:00 GMT"}, {}, RetriableDeliveryError, "pending", "429"),
    ("409-in-progress", {}, {}, RetriableDeliveryError, "pending", "409"),
    ("drop", {}, {}, UncertainDeliveryError, "pending", "may have reached"),
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
    assert mentions in h["last_error"]  # the agency's answer is kept for the central office
    if state == "failed":
        assert h["followup_reason"] == "delivery_failed"
        assert h["followup"].startswith("delivery failed (refused)")
    else:
        assert h["followup_reason"] is None
    assert h["uncertain"] is (error is UncertainDeliveryError)


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


def test_the_signature_covers_method_path_timestamp_key_and_body(sim: Sim) -> None:
    """L2: the v2 signature covers the request line and the Idempotency-Key, not only the body."""
    adapter, agency = adapter_for(sim[0])
    adapter.deliver(envelope_for(agency))
    [r] = sim[1].requests()
    signed = {
        "method": "POST",
        "path": r.path,
        "timestamp": r.headers["X-Tawasul-Timestamp"],
        "signature": r.headers["X-Tawasul-Signature"],
        "body": r.body,
        "idempotency_key": r.headers["Idempotency-Key"],
    }
    assert signed["signature"].startswith("v2=")
    assert verify(SECRET, **signed)
    assert not verify("another-secret", **signed)
    for change in ({"method": "PUT"}, {"path": "/ministry-of-labour/cases"}, {"idempotency_key": "h_other"}):
        assert not verify(SECRET, **{**signed, **change}), change


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
    for text in (SAMPLE_CASE.subject, *SAMPLE_CASE.description.splitlines(), SAMPLE_CASE.citizen.name):
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


def test_a_missing_attachment_download_is_permanent_and_a_flaky_one_retriable(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter, agency = adapter_for(sim[0], attachments={"mode": "base64"})
    with pytest.raises(PermanentDeliveryError, match="404"):
        adapter.deliver(envelope_for(agency, case=_case_with(sim[0], name="missing.pdf")))
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HUB_ATTACHMENT_HOSTS", f"{sim[0]} {down}")
    with pytest.raises(AttachmentStoreError):
        adapter.deliver(envelope_for(agency, case=_case_with(down)))


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
    ({"tls": {"client_key": __file__}}, "client_key without tls.client_cert"),
    ({"deliver_path": "/cases/{cpr}"}, "only {handoff_id}, {reference}"),
    ({"plain_http": False}, "must be https"),
    ({"auth": {"type": "api_key", "key_env": "HUB_NATIONAL_API_KEY"}}, "not for agencies"),
    ({"lookup": {"path": "/cases", "ticket": "id"}}, "name the case"),
    ({"follow_ons": {"reminder": {"path": "/cases/{cpr}/r"}}}, "may be filled in"),
    ({"follow_ons": {"gossip": {"path": "/x"}}}, "follow_ons"),
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
    with pytest.raises(PermanentDeliveryError, match="mapping failed"):
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
        with pytest.raises((RetriableDeliveryError, UncertainDeliveryError), match="unreachable"):
            without.deliver(envelope_for(agency))
        assert len(controller.requests()) == 1


def test_each_follow_on_kind_reaches_the_agency_signed_with_its_own_key_and_arabic_intact(sim: Sim) -> None:
    adapter, agency = adapter_for(sim[0], follow_ons=FOLLOW_ONS)
    for kind in FollowOnKind:
        envelope = follow_on_for(agency, kind, agency_reference="MOH-77")
        adapter.follow_on(envelope)
        adapter.follow_on(envelope)  # a retry of the same message: the agency sees the same key
    received = sim[1].follow_ons("ministry-of-housing")
    assert len(received) == 2 * len(FollowOnKind)
    assert all(r.path == "/ministry-of-housing/cases/MOH-77/notes" and r.signature_ok for r in received)
    keys = [r.headers["Idempotency-Key"] for r in received]
    assert len(set(keys)) == len(FollowOnKind) and keys[0] == keys[1]
    body = received[0].json()
    assert body["follow_on"]["text_ar"] == "ردّ المواطن: العنوان مجمع ٥٢٥، طريق ٢٥١١."
    assert "ردّ المواطن".encode() in received[0].body  # raw UTF-8, never \\u escapes


def test_an_agency_reference_can_never_steer_a_path(sim: Sim) -> None:
    """L6: placeholders are percent-encoded, so a reference cannot add segments or parameters."""
    assert (
        fill("/cases/{agency_reference}", agency_reference="../../moh/cases/T-9")
        == "/cases/..%2F..%2Fmoh%2Fcases%2FT-9"
    )
    assert fill("/cases/{agency_reference}", agency_reference="T-1?admin=1#") == "/cases/T-1%3Fadmin%3D1%23"
    adapter, agency = adapter_for(sim[0], follow_ons=FOLLOW_ONS)
    adapter.follow_on(follow_on_for(agency, FollowOnKind.reminder, agency_reference="../../x?y=1"))
    [r] = sim[1].follow_ons()
    assert r.path == "/ministry-of-housing/cases/..%2F..%2Fx%3Fy%3D1/notes"


def test_a_lookup_finds_the_ticket_the_agency_already_made(sim: Sim) -> None:
    lookup = {"path": "/cases?reference={reference}", "ticket": "items[0].ticket_id"}
    adapter, agency = adapter_for(sim[0], lookup=lookup)
    assert adapter.lookup(envelope_for(agency)) is None
    made = adapter.deliver(envelope_for(agency))
    found = adapter.lookup(envelope_for(agency))
    assert found is not None and found.agency_reference == made.agency_reference


def test_a_poll_keys_each_message_by_the_agencys_change(sim: Sim) -> None:
    poll = {
        "path": "/cases/{agency_reference}",
        "status": "status",
        "change_key": "change_id",
        "codes": {"ACK": "acknowledged"},
    }
    adapter, agency = adapter_for(sim[0], poll=poll)
    ticket = adapter.deliver(envelope_for(agency)).agency_reference
    item = PollItem(handoff_id="h_1", agency_reference=ticket, state="delivered")
    sim[1].set_status("ministry-of-housing", str(ticket), "ACK", "")
    [first] = adapter.poll([item])
    [same] = adapter.poll([item])
    sim[1].set_status("ministry-of-housing", str(ticket), "ACK", "")  # the same status, a new change
    [again] = adapter.poll([item])
    assert first.dedup_key == same.dedup_key != again.dedup_key


def test_an_endless_error_page_is_read_no_further_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """M5: an agency answering an endless body costs the hub at most its read limit."""
    import socket
    import threading

    monkeypatch.setenv(SECRET_ENV, SECRET)
    sent = [0]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        try:
            while sent[0] < 50_000_000:
                conn.sendall(chunk)
                sent[0] += 0x4000
        except OSError:
            pass
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    adapter, agency = adapter_for(f"http://127.0.0.1:{server.getsockname()[1]}", max_answer_bytes=100_000)
    with pytest.raises(PermanentDeliveryError, match="more than the 100000 bytes"):
        adapter.deliver(envelope_for(agency))
    server.close()
    assert sent[0] < 10_000_000  # the hub hung up long before the server ran out of bytes
