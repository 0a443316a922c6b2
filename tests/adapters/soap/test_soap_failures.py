"""Every way a SOAP call can fail, against the real simulator: the error that says what happens next, and why.

Each row: how the agency answers, the settings changed, the error the adapter raises, the handoff's
state at the hub afterwards, and words of the reason an officer reads on the follow-up queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.errors import PermanentDeliveryError, RetriableDeliveryError, UncertainDeliveryError
from adapters.testing import envelope_for
from adapters.testing.soap_agency import Simulator
from broker.hub import Hub
from tests.conftest import make_case
from tests.rest_agencies import change_adapter, deliver
from tests.soap_agencies import TRA, WORKS, cases_agency, hub_on_soap, soap_adapter, soap_sim
from tests.support import free_port

__all__ = ["soap_sim"]

QUICK = {"read_timeout": 1, "total_timeout": 1.5}

FAILURES: list[tuple[str, dict[str, Any], dict[str, Any], type, str, str]] = [
    ("client-fault", {}, {}, PermanentDeliveryError, "failed", "SOAP fault soap:Client"),
    ("client-fault", {"detail_code": "INVALID_CATEGORY"}, {}, PermanentDeliveryError, "failed", "INVALID_CATEGORY"),
    ("client-fault", {"detail_code": "BUSY"}, {"faults": {"codes": {"BUSY": "retry"}}}, RetriableDeliveryError,
     "pending", "BUSY"),
    ("server-fault", {}, {}, RetriableDeliveryError, "pending", "SOAP fault soap:Server"),
    ("server-fault", {"detail_code": "CLOSED_FOR_GOOD"}, {"faults": {"codes": {"CLOSED_FOR_GOOD": "permanent"}}},
     PermanentDeliveryError, "failed", "CLOSED_FOR_GOOD"),
    ("auth-fault", {}, {}, PermanentDeliveryError, "failed", "refused the hub's credentials"),
    ("http-500", {}, {}, RetriableDeliveryError, "pending", "HTTP 500 without a SOAP fault"),
    ("http-500-html", {}, {}, RetriableDeliveryError, "pending", "HTTP 500 without a SOAP fault"),
    ("http-503", {}, {}, RetriableDeliveryError, "pending", "HTTP 503"),
    ("hang", {"hang_seconds": 10}, QUICK, UncertainDeliveryError, "pending", "may have"),
    ("drop", {}, {}, UncertainDeliveryError, "pending", "may have reached it"),
    ("refused", {}, {}, RetriableDeliveryError, "pending", "unreachable"),
    ("malformed", {}, {}, PermanentDeliveryError, "failed", "body that is not XML"),
    ("not-soap", {}, {}, PermanentDeliveryError, "failed", "not the SOAP its WSDL describes"),
    ("dtd", {}, {}, PermanentDeliveryError, "failed", "hostile XML (it carries a DTD)"),
    ("billion-laughs", {}, {}, PermanentDeliveryError, "failed", "hostile XML (it declares XML entities)"),
    ("external-entity", {}, {}, PermanentDeliveryError, "failed", "hostile XML (it refers to an external resource)"),
    ("deep", {}, {}, PermanentDeliveryError, "failed", "Excessive depth in document"),
    ("oversized", {"size": 3 * 1024 * 1024}, {"max_answer_bytes": 65536}, PermanentDeliveryError, "failed",
     "more than the 65536 bytes"),
]  # fmt: skip
IDS = [f"{row[0]}-{i}" for i, row in enumerate(FAILURES)]


def _arrange(sim: Simulator, agency: str, mode: str, options: dict[str, Any]) -> str:
    """The simulator behaves as `mode` for `agency`'s submissions; returns the endpoint to call."""
    if mode == "refused":
        return f"http://127.0.0.1:{free_port()}/{agency}"
    sim.controller.set_mode(agency, mode, **options)
    return f"{sim.url}/{agency}"


@pytest.mark.parametrize(("mode", "options", "changes", "error", "state", "mentions"), FAILURES, ids=IDS)
def test_each_failure_raises_the_error_that_says_what_happens_next(
    soap_sim: Simulator,
    mode: str,
    options: dict[str, Any],
    changes: dict[str, Any],
    error: type,
    state: str,
    mentions: str,
) -> None:
    agency = cases_agency(soap_sim, **changes)
    adapter = soap_adapter(agency)
    adapter.port()  # the WSDL loads before the agency misbehaves
    endpoint = _arrange(soap_sim, WORKS, mode, options)
    if mode == "refused":
        adapter = soap_adapter(cases_agency(soap_sim, endpoint=endpoint, **changes))
    with capture_logs() as logs, pytest.raises(error) as caught:
        adapter.deliver(envelope_for(agency))
    assert type(caught.value) is error or issubclass(type(caught.value), error)
    assert mentions in f"{caught.value} {caught.value.response_excerpt}"
    assert any(e["event"] == "soap.call_failed" and e["error"] == str(caught.value) for e in logs) or mode == "refused"


def test_a_hostile_answer_is_refused_before_anything_is_expanded(soap_sim: Simulator) -> None:
    """A billion laughs in a status answer: the poll skips it, the process neither hangs nor grows."""
    agency = cases_agency(soap_sim)
    adapter = soap_adapter(agency)
    ticket = adapter.deliver(envelope_for(agency)).agency_reference
    soap_sim.controller.set_mode(WORKS, "billion-laughs", on="status")
    from schemas import PollItem

    item = PollItem(handoff_id="h_1", agency_reference=ticket, state="delivered")
    with capture_logs() as logs:
        assert adapter.poll([item]) == []
    [failed] = [e for e in logs if e["event"] == "poll.failed"]
    assert "declares XML entities" in failed["error"]


@pytest.mark.parametrize("mode", ["dtd", "billion-laughs", "external-entity"])
def test_a_hostile_wsdl_is_refused_for_good(soap_sim: Simulator, mode: str) -> None:
    soap_sim.controller.set_mode(WORKS, mode, on="wsdl")
    agency = cases_agency(soap_sim)
    with pytest.raises(PermanentDeliveryError, match="WSDL was refused as hostile XML"):
        soap_adapter(agency).deliver(envelope_for(agency))
    assert soap_sim.controller.requests(WORKS) == []


def test_a_wsdl_the_hub_cannot_read_is_retried_and_named(soap_sim: Simulator) -> None:
    agency = cases_agency(soap_sim, wsdl=f"http://127.0.0.1:{free_port()}/nowhere?wsdl")
    with pytest.raises(RetriableDeliveryError, match="agency WSDL unreachable"):
        soap_adapter(agency).deliver(envelope_for(agency))


@pytest.mark.parametrize(("mode", "options", "changes", "error", "state", "mentions"), FAILURES, ids=IDS)
def test_each_failure_ends_the_handoff_in_the_right_state(
    sqlite_hub: Hub,
    soap_sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    options: dict[str, Any],
    changes: dict[str, Any],
    error: type,
    state: str,
    mentions: str,
) -> None:
    hub = hub_on_soap(sqlite_hub, soap_sim, tmp_path, monkeypatch)
    endpoint = _arrange(soap_sim, TRA, mode, options)
    faults = changes.pop("faults", {})
    if faults:
        faults = {"code": "code", "ticket": "ticketId", "codes": {"DUPLICATE": "adopt", **faults["codes"]}}
        changes["faults"] = faults
    change_adapter(hub, TRA, endpoint=endpoint, **changes)
    h = deliver(hub, make_case(category="telecom-services"))
    assert h["agency_id"] == TRA
    assert h["state"] == state
    assert h["attempts"] == 1
    assert mentions in h["last_error"]  # the agency's answer is kept for the central office
    if state == "failed":
        assert h["followup_reason"] == "delivery_failed"
        assert h["followup"].startswith("delivery failed (refused)")
    else:
        assert h["followup_reason"] is None
    assert h["uncertain"] is (error is UncertainDeliveryError)
