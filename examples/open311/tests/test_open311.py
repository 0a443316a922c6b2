"""The Open311 adapter against a small Open311 GeoReport v2 server: the contract kit and the protocol's cases."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from open311_server import Open311Server, running_open311
from tawasul_open311 import Open311Adapter

from adapters.base import Adapter
from adapters.errors import ConfigError, PermanentDeliveryError
from adapters.testing.contract import HANDOFF_ID, AdapterContract, envelope_for, strings_in
from schemas import AgencyConfig, Inbound, MessageKind, PollItem

KEY_ENV = "MUHARRAQ_OPEN311_KEY"
os.environ[KEY_ENV] = "open311-test-key"
_server = running_open311()
SERVER: Open311Server = _server.__enter__()


def teardown_module() -> None:
    """Stop the contract's server (its class needs the URL when the module is imported)."""
    _server.__exit__(None, None, None)


def muharraq(url: str = SERVER.url, **settings: object) -> AgencyConfig:
    """Muharraq Municipality on the Open311 adapter."""
    return AgencyConfig.model_validate(
        {
            "id": "muharraq-municipality",
            "name_ar": "بلدية المحرق",
            "name_en": "Muharraq Municipality",
            "status": "onboarded",
            "adapter": {
                "kind": "open311",
                "base_url": url,
                "api_key_env": KEY_ENV,
                "service_codes": {"road-maintenance": "POTHOLE"},
                **settings,
            },
        }
    )


class TestOpen311Contract(AdapterContract):
    """Everything the hub relies on an adapter for."""

    adapter_class = Open311Adapter
    agency = muharraq()

    def delivered_texts(self, adapter: Adapter) -> list[str]:
        """The form fields the server received."""
        return strings_in(SERVER.received)

    def inbound_sample(self, adapter: Adapter) -> list[Inbound]:
        """Staff close the last request; a poll reads it."""
        last = max(SERVER.requests, key=int)
        SERVER.update(last, status="closed", notes="تم ردم الحفرة / filled")
        return adapter.poll([PollItem(handoff_id=HANDOFF_ID, agency_reference=last, state="delivered")])


@pytest.fixture
def server() -> Iterator[Open311Server]:
    with running_open311() as s:
        yield s


def test_a_request_is_followed_from_open_to_closed_with_expected_datetime_and_notes(server: Open311Server) -> None:
    adapter = Open311Adapter.from_config(muharraq(server.url))
    receipt = adapter.deliver(envelope_for(adapter.agency))
    assert receipt.agency_reference in server.requests
    assert server.received[-1]["service_code"] == "POTHOLE"
    item = PollItem(handoff_id=HANDOFF_ID, agency_reference=receipt.agency_reference, state="delivered")
    [ack] = adapter.poll([item])
    assert ack.kind is MessageKind.acknowledged
    server.update(receipt.agency_reference, notes="فريق الصيانة في الطريق", expected="2026-12-10T12:00:00+03:00")
    [progress] = adapter.poll([item])
    assert progress.kind is MessageKind.progress
    assert "فريق الصيانة في الطريق" in progress.text and "2026-12-10T12:00:00+03:00" in progress.text
    assert progress.dedup_key != ack.dedup_key
    server.update(receipt.agency_reference, status="closed", notes="تم الإصلاح")
    [answer] = adapter.poll([item])
    assert (answer.kind, answer.text, answer.handoff) == (MessageKind.answered, "تم الإصلاح", HANDOFF_ID)


def test_a_token_answer_is_resolved_to_the_request_id(server: Open311Server) -> None:
    server.issue_tokens = True
    adapter = Open311Adapter.from_config(muharraq(server.url))
    receipt = adapter.deliver(envelope_for(adapter.agency))
    assert receipt.agency_reference in server.requests


def test_a_wrong_api_key_or_an_unmapped_category_is_a_refusal(server: Open311Server) -> None:
    server.api_key = "another-key"
    adapter = Open311Adapter.from_config(muharraq(server.url))
    with pytest.raises(PermanentDeliveryError, match="Invalid api_key"):
        adapter.deliver(envelope_for(adapter.agency))
    unmapped = Open311Adapter.from_config(muharraq(server.url, service_codes={}))
    with pytest.raises(PermanentDeliveryError, match="no Open311 service_code"):
        unmapped.deliver(envelope_for(unmapped.agency))


def test_check_names_a_service_code_the_server_does_not_offer_and_an_unreachable_server(server: Open311Server) -> None:
    Open311Adapter.from_config(muharraq(server.url)).check()
    with pytest.raises(ConfigError, match="BOGUS"):
        Open311Adapter.from_config(muharraq(server.url, default_service_code="BOGUS")).check()
    with pytest.raises(ConfigError, match=r"services\.json"):
        Open311Adapter.from_config(muharraq("http://127.0.0.1:9/open311/v2")).check()
