"""The adapter contract kit, run against the SOAP adapter and the SOAP agency simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from adapters.base import Adapter
from adapters.soap import SoapAdapter
from adapters.testing import AdapterContract
from adapters.testing.soap_agency import Simulator, running_simulator
from schemas import Inbound, PollItem
from tests.soap_agencies import PASSWORD, PASSWORD_ENV, WORKS, cases_agency, tickets_agency


class _Placeholder:
    url = "http://127.0.0.1:9"

    def wsdl(self, agency: str) -> str:
        return f"{self.url}/{agency}?wsdl"

    class controller:  # stands in for the simulator's controller at class definition
        credentials: ClassVar[dict[str, object]] = {}
        profiles: ClassVar[dict[str, object]] = {}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Iterator[Simulator]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("HUB_WSDL_CACHE", f"{tmp_path}/wsdl-cache.sqlite")
    with running_simulator() as started:
        started.controller.unknown_tickets_take_notes = True  # the kit's follow-ons name a made-up ticket
        yield started


class TestSoapAdapterContract(AdapterContract):
    adapter_class = SoapAdapter
    agency = cases_agency(_Placeholder())  # type: ignore[arg-type]

    @pytest.fixture(autouse=True)
    def _pointed_at_the_simulator(self, sim: Simulator) -> None:
        self.agency = cases_agency(sim)  # type: ignore[misc]
        self.sim = sim

    def delivered_texts(self, adapter: Adapter) -> list[str]:
        return [text for r in self.sim.controller.requests(WORKS) for text in r.texts()]

    def inbound_sample(self, adapter: Adapter) -> list[Inbound]:
        [ticket] = self.sim.controller.tickets(WORKS)
        self.sim.controller.set_status(WORKS, ticket, "ACK", "استلمنا")
        items = [PollItem(handoff_id="h_01JCONTRACT0000000000000000", agency_reference=ticket, state="delivered")]
        return adapter.poll(items)


class TestSoapAdapterContractOnAnotherWsdl(TestSoapAdapterContract):
    """The same promises kept for an agency on the second WSDL (SOAP 1.2, nested, other codes)."""

    @pytest.fixture(autouse=True)
    def _pointed_at_the_simulator(self, sim: Simulator) -> None:
        self.agency = tickets_agency(sim, agency_id=WORKS)  # type: ignore[misc]
        self.sim = sim

    def inbound_sample(self, adapter: Adapter) -> list[Inbound]:
        [ticket] = self.sim.controller.tickets(WORKS)
        self.sim.controller.set_status(WORKS, ticket, "ASSIGNED", "استلمنا")
        items = [PollItem(handoff_id="h_01JCONTRACT0000000000000000", agency_reference=ticket, state="delivered")]
        return adapter.poll(items)
