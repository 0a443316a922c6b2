"""The contract kit as a pytest plugin: fixtures an adapter's own tests can ask for by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.testing.contract import SAMPLE_CASE
from adapters.testing.rest_agency import Controller, running_simulator
from adapters.testing.soap_agency import Simulator as SoapSimulator
from adapters.testing.soap_agency import running_simulator as running_soap_simulator
from schemas import CaseIn


@pytest.fixture
def sample_case() -> CaseIn:
    """The contract's sample case: Arabic and English, Arabic-Indic digits, punctuation, two lines."""
    return SAMPLE_CASE


@pytest.fixture
def rest_agency_simulator() -> Iterator[tuple[str, Controller]]:
    """A REST agency simulator on a free port for the test: its base URL and controller."""
    with running_simulator() as sim:
        yield sim


@pytest.fixture
def soap_agency_simulator() -> Iterator[SoapSimulator]:
    """A SOAP agency simulator on a free port for the test (its WSDLs at `sim.wsdl(agency)`)."""
    with running_soap_simulator() as sim:
        yield sim
