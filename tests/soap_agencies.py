"""Test helpers for SOAP agencies: agency configs for the simulator's two WSDLs, and a hub that uses it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.soap import SoapAdapter
from adapters.testing.soap_agency import TICKETS, Credentials, Simulator, running_simulator, simulate_agencies
from broker.hub import Hub
from broker.settings import PROJECT_ROOT
from schemas import AgencyConfig

PASSWORD = "كلمة-سر soap 0123456789"
PASSWORD_ENV = "TEST_SOAP_PASSWORD"
TRA = "telecommunications-regulatory-authority"
WORKS = "ministry-of-works"
NOTE = {
    "ticketId": "agency_reference",
    "noteId": "follow_on.id",
    "text": "join(' — ', [follow_on.text_ar, follow_on.text])",
}


@pytest.fixture
def soap_sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Simulator]:
    """The SOAP simulator on a free port, its password in the environment, a WSDL cache of the test's own."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("HUB_WSDL_CACHE", str(tmp_path / "wsdl-cache.sqlite"))
    with running_simulator() as sim:
        yield sim


def cases_agency(sim: Simulator, agency_id: str = WORKS, **changes: Any) -> AgencyConfig:
    """An agency on the simulator's `cases` WSDL (SOAP 1.1, flat parameters), with a UsernameToken."""
    adapter: dict[str, Any] = {
        "kind": "soap",
        "wsdl": sim.wsdl(agency_id),
        "plain_http": True,
        "soap_version": "1.1",
        "wsse": {"username": "hub", "password_env": PASSWORD_ENV, "digest": True},
        "read_timeout": 5,
        "detects_duplicates": True,
        "faults": {"codes": {"DUPLICATE": "adopt"}},
        "submit": {
            "operation": "SubmitCase",
            "ticket": "ticketId",
            "parameters": {
                "fields": {
                    "reference": "case.reference",
                    "kind": {"path": "case.kind", "codes": "kind"},
                    "category": "case.category",
                    "subject": "case.subject",
                    "description": "case.description",
                    "submittedAt": "case.submitted_at",
                    "citizen.name": "case.citizen.name",
                    "attachment": "attachments[].{fileName: filename, url: url}",
                },
                "codes": {"kind": {"complaint": "COMPLAINT", "suggestion": "SUGGESTION", "inquiry": "INQUIRY"}},
            },
        },
        "lookup": {
            "operation": "FindCase",
            "parameters": {"fields": {"reference": "case.reference"}},
            "ticket": "ticketId",
        },
        "status": {
            "operation": "GetCaseStatus",
            "parameters": {"fields": {"ticketId": "agency_reference"}},
            "status": "status",
            "text": "remark",
            "change_key": "revision",
            "codes": {"ACK": "acknowledged", "WIP": "progress", "INFO": "needs_info", "DONE": "answered"},
        },
        "follow_ons": {
            kind: {"operation": "AddNote", "parameters": {"fields": {**NOTE, "noteType": {"value": code}}}}
            for kind, code in (("citizen_reply", "CITIZEN_REPLY"), ("answer_returned", "RETURNED"))
        },
        **changes,
    }
    sim.controller.credentials.setdefault(agency_id, Credentials("hub", PASSWORD))
    return AgencyConfig.model_validate(
        {
            "id": agency_id,
            "name_ar": "وزارة الأشغال",
            "name_en": "Ministry of Works",
            "status": "onboarded",
            "adapter": adapter,
        }
    )


def tickets_agency(sim: Simulator, agency_id: str = "ticketing-agency", **changes: Any) -> AgencyConfig:
    """An agency on the simulator's `tickets` WSDL: other names, namespace, nesting, enumerations; SOAP 1.2."""
    sim.controller.profiles[agency_id] = TICKETS
    adapter: dict[str, Any] = {
        "kind": "soap",
        "wsdl": sim.wsdl(agency_id),
        "plain_http": True,
        "wsse": {"username": "hub", "password_env": PASSWORD_ENV, "digest": False},
        "read_timeout": 5,
        "detects_duplicates": True,
        "faults": {"code": "ErrorCode", "ticket": "ExistingTicket"},
        "submit": {
            "operation": "CreateTicket",
            "ticket": "Result.TicketNumber",
            "parameters": {
                "fields": {
                    "Request.Header.ExternalRef": "case.reference",
                    "Request.Header.Source": {"value": "TAWASUL"},
                    "Request.Header.TicketType": {"path": "case.kind", "codes": "kind"},
                    "Request.Content.Title": "case.subject",
                    "Request.Content.Narrative": "case.description",
                    "Request.Content.Category": {"path": "case.category", "codes": "category"},
                    "Request.Content.ReceivedOn": {"path": "case.submitted_at", "date": True},
                    "Request.Content.Applicant.FullName": "case.citizen.name",
                    "Request.Content.Documents.Document": "attachments[].{Name: filename, Link: url}",
                },
                "codes": {
                    "kind": {"complaint": "1", "suggestion": "2", "inquiry": "3"},
                    "category": {
                        "road-maintenance": "ROADS",
                        "street-lighting": "LIGHTING",
                        "telecom-services": "TELECOM",
                    },
                },
                "date_format": "%Y-%m-%d",
            },
        },
        "status": {
            "operation": "QueryTicket",
            "parameters": {"fields": {"TicketNumber": "agency_reference"}},
            "status": "Ticket.State",
            "text": "Ticket.Resolution",
            "change_key": "Ticket.Version",
            "codes": {"ASSIGNED": "acknowledged", "WAITING_CUSTOMER": "needs_info", "RESOLVED": "answered"},
        },
        "follow_ons": {
            "citizen_reply": {
                "operation": "AppendComment",
                "parameters": {
                    "fields": {
                        "TicketNumber": "agency_reference",
                        "Comment.Kind": {"value": "CUSTOMER"},
                        "Comment.Body": "follow_on.text_ar",
                        "Comment.ExternalId": "follow_on.id",
                    }
                },
            }
        },
        **changes,
    }
    sim.controller.credentials.setdefault(agency_id, Credentials("hub", PASSWORD, frozenset({"PasswordText"})))
    return AgencyConfig.model_validate(
        {
            "id": agency_id,
            "name_ar": "جهة التذاكر",
            "name_en": "Ticketing Agency",
            "status": "onboarded",
            "adapter": adapter,
        }
    )


def soap_adapter(agency: AgencyConfig) -> SoapAdapter:
    """The SOAP adapter of `agency`."""
    adapter = SoapAdapter.from_config(agency)
    assert isinstance(adapter, SoapAdapter)
    return adapter


def hub_on_soap(hub: Hub, sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """`hub` with the shipped agencies.yaml, its SOAP agencies played by the simulator, secrets set."""
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "config" / "agencies.yaml", config / "agencies.yaml")
    monkeypatch.setenv("HUB_SOAP_SIMULATOR_URL", sim.url)
    hub.settings = hub.settings.model_copy(update={"config_dir": config})
    hub.__dict__.pop("directory", None)
    env: dict[str, str] = {}
    simulate_agencies(hub.directory.agencies.values(), sim.controller, env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return hub
