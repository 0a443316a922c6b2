"""Transport security and secrets for SOAP agencies: client certificates, CA bundles, secrets read at call time."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from adapters.errors import ConfigError, RetriableDeliveryError, UncertainDeliveryError
from adapters.testing import envelope_for
from adapters.testing.soap_agency import Credentials, Simulator, running_simulator
from tests.adapters.test_rest import _issue
from tests.soap_agencies import PASSWORD, PASSWORD_ENV, WORKS, cases_agency, soap_adapter, soap_sim

__all__ = ["soap_sim"]


def test_a_client_certificate_opens_an_agency_that_requires_mutual_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("HUB_WSDL_CACHE", str(tmp_path / "wsdl-cache.sqlite"))
    ca = _issue("agency-ca", None, tmp_path)
    _issue("server", ca, tmp_path, server=True)
    _issue("hub-client", ca, tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tmp_path / "agency-ca.pem")
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    with running_simulator(tls=context) as sim:
        assert sim.url.startswith("https://")
        tls = {
            "client_cert": str(tmp_path / "hub-client.pem"),
            "client_key": str(tmp_path / "hub-client.key"),
            "ca_bundle": str(tmp_path / "agency-ca.pem"),
        }
        agency = cases_agency(sim, plain_http=False, tls=tls, wsdl_cache_seconds=0)
        assert soap_adapter(agency).deliver(envelope_for(agency)).agency_reference
        without = cases_agency(sim, plain_http=False, tls={"ca_bundle": tls["ca_bundle"]}, wsdl_cache_seconds=0)
        with pytest.raises((RetriableDeliveryError, UncertainDeliveryError), match="unreachable"):
            soap_adapter(without).deliver(envelope_for(without))
        untrusted = cases_agency(sim, plain_http=False, wsdl_cache_seconds=0)  # the system's CAs: not this one
        with pytest.raises(RetriableDeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|unreachable"):
            soap_adapter(untrusted).deliver(envelope_for(untrusted))
        assert len(sim.controller.requests(WORKS)) == 1


def test_a_missing_secret_is_named_by_check_and_retried_by_delivery(
    soap_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    agency = cases_agency(soap_sim)
    monkeypatch.delenv(PASSWORD_ENV)
    adapter = soap_adapter(agency)
    with pytest.raises(ConfigError, match=f"environment variable {PASSWORD_ENV} is not set"):
        adapter.check()
    with pytest.raises(RetriableDeliveryError, match=PASSWORD_ENV):
        adapter.deliver(envelope_for(agency))
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)  # set by operations: the next attempt goes through
    assert adapter.deliver(envelope_for(agency, attempt=2)).agency_reference


def test_a_rotated_password_applies_at_the_next_call(soap_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    assert adapter.deliver(envelope_for(agency)).agency_reference
    soap_sim.controller.credentials[WORKS] = Credentials("hub", "rotated-كلمة")
    monkeypatch.setenv(PASSWORD_ENV, "rotated-كلمة")
    assert adapter.lookup(envelope_for(agency)) is not None


def test_a_replayed_nonce_and_an_expired_timestamp_are_refused_by_the_simulator(soap_sim: Simulator) -> None:
    """The simulator checks what a real WS-Security service checks: each nonce once, a fresh Created."""
    from lxml import etree

    from adapters.testing.soap_agency.server import security_problem

    agency = cases_agency(soap_sim)
    soap_adapter(agency).deliver(envelope_for(agency))
    [call] = soap_sim.controller.requests(WORKS)
    root = etree.fromstring(call.body)
    creds = soap_sim.controller.credentials[WORKS]
    assert security_problem(root, creds, soap_sim.controller) == "nonce used before"
    stale = Credentials(creds.username, creds.password, creds.accept, max_age=-1.0)
    soap_sim.controller.nonces.clear()
    assert security_problem(root, stale, soap_sim.controller) == "created time too old"
