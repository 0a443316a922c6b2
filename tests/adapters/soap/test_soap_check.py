"""Checking a SOAP agency's configuration against its WSDL, before any case is sent.

`agencies check AGENCY` prints the operations with their parameter trees and every problem;
`config check` reports the same problems with the agency and the field path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from adapters.errors import ConfigError
from adapters.testing.soap_agency import Simulator
from broker.cli import app
from broker.hub import set_hub
from broker.settings import PROJECT_ROOT
from tests.soap_agencies import TRA, cases_agency, soap_adapter, soap_sim, tickets_agency

__all__ = ["soap_sim"]
runner = CliRunner()


def test_a_mapping_that_fits_the_wsdl_has_no_problem(soap_sim: Simulator) -> None:
    assert soap_adapter(cases_agency(soap_sim)).problems() == []
    assert soap_adapter(tickets_agency(soap_sim)).problems() == []


def test_every_mismatch_with_the_wsdl_is_named_with_its_path(soap_sim: Simulator) -> None:
    good = cases_agency(soap_sim).adapter.settings
    submit = good["submit"]
    fields = {k: v for k, v in submit["parameters"]["fields"].items() if k != "subject"}  # a required field left out
    fields["citizen.nickname"] = "case.citizen.name"  # no such field
    codes = {"kind": {"complaint": "COMPLAINT", "suggestion": "IDEA", "inquiry": "INQUIRY"}}  # IDEA: not in the enum
    broken = {
        "submit": {**submit, "parameters": {"fields": fields, "codes": codes}},
        "lookup": {**good["lookup"], "operation": "SearchCases"},
        "status": {**good["status"], "codes": {**good["status"]["codes"], "CLOSED": "answered"}},
        "follow_ons": {
            "citizen_reply": {
                "operation": "AddNote",
                "parameters": {"fields": {"ticketId": "agency_reference", "noteId": "follow_on.id",
                                          "text": "follow_on.text", "noteType": {"value": "REPLY"}}},
            }
        },
    }  # fmt: skip
    problems = soap_adapter(cases_agency(soap_sim, **broken)).problems()
    assert sorted(problems) == sorted(
        [
            "submit.parameters.fields.citizen.nickname: SubmitCase has no field 'citizen.nickname' (it takes: "
            "reference, kind, category, subject, description, submittedAt, language, citizen, location, attachment)",
            "submit.parameters.fields.kind: code 'IDEA' (for 'suggestion' in code list 'kind') is not in the WSDL's "
            "enumeration COMPLAINT | SUGGESTION | INQUIRY",
            "submit.parameters.fields: required field 'subject' of SubmitCase is not mapped",
            "lookup.operation: the WSDL has no operation 'SearchCases' (it has AddNote, FindCase, GetCaseStatus, "
            "SubmitCase)",
            "status.codes: 'CLOSED' is not in the WSDL's enumeration NEW | ACK | WIP | INFO | DONE | REJ",
            "follow_ons.citizen_reply.parameters.fields.noteType: 'REPLY' is not in the WSDL's enumeration "
            "CITIZEN_REPLY | RETURNED | REMINDER | CANCELLED | CLOSED | OTHER",
        ]
    )


def test_nested_required_fields_are_checked_inside_what_the_mapping_fills(soap_sim: Simulator) -> None:
    good = tickets_agency(soap_sim).adapter.settings
    fields = {k: v for k, v in good["submit"]["parameters"]["fields"].items() if k != "Request.Content.Narrative"}
    fields["Request.Content.Category"] = {"path": "case.category", "codes": "category"}
    parameters = {**good["submit"]["parameters"], "fields": fields}
    parameters["codes"] = {**parameters["codes"], "category": {"road-maintenance": "ROAD"}}
    problems = soap_adapter(tickets_agency(soap_sim, submit={**good["submit"], "parameters": parameters})).problems()
    assert sorted(problems) == [
        "submit.parameters.fields.Request.Content.Category: code 'ROAD' (for 'road-maintenance' in code list "
        "'category') is not in the WSDL's enumeration ROADS | LIGHTING | WATER | TELECOM | GENERAL",
        "submit.parameters.fields: required field 'Request.Content.Narrative' of CreateTicket is not mapped",
    ]


def test_check_raises_every_problem_and_a_wsdl_that_cannot_be_read(soap_sim: Simulator) -> None:
    bad = cases_agency(soap_sim, submit={"operation": "Submit", "parameters": {}})
    with pytest.raises(ConfigError) as caught:
        soap_adapter(bad).check()
    assert caught.value.problems == [
        "submit.operation: the WSDL has no operation 'Submit' (it has AddNote, FindCase, GetCaseStatus, SubmitCase)"
    ]
    gone = cases_agency(soap_sim, wsdl=f"{soap_sim.url}/x?nothing")
    with pytest.raises(ConfigError, match="agency WSDL refused the request"):
        soap_adapter(gone).check()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"wsdl": "http://agency.example.bh/x?wsdl", "plain_http": False}, "wsdl must be https://"),
        ({"attachments": {"mode": "multipart"}}, "no multipart body"),
        ({"wsse": {"username": "u", "password": "in-the-file"}}, "Extra inputs are not permitted"),
        ({"wsdl": "ftp://agency.example.bh/x.wsdl"}, "give an http(s) URL or a file path"),
        ({"faults": {"codes": {"DUP": "ignore"}}}, "Input should be 'permanent', 'retry', 'auth' or 'adopt'"),
        ({"status": {"operation": "S", "parameters": {}, "status": "a[", "codes": {}}}, "status.status"),
    ],
)
def test_a_bad_adapter_block_is_refused_at_start_up(soap_sim: Simulator, changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        soap_adapter(cases_agency(soap_sim, **changes))
    assert problem in str(caught.value)


@pytest.fixture
def config_dir(soap_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The shipped configuration in a directory of the test's own, its SOAP agency on the simulator."""
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    monkeypatch.setenv("HUB_CONFIG_DIR", str(config))
    monkeypatch.setenv("HUB_SOAP_SIMULATOR_URL", soap_sim.url)
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    monkeypatch.setenv("TRA_SOAP_PASSWORD", "p")
    set_hub(None)
    yield config
    set_hub(None)


def _edit_tra(config: Path, **changes: Any) -> None:
    source = config / "agencies.yaml"
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    agency = next(a for a in raw["agencies"] if a["id"] == TRA)
    agency["adapter"].update(changes)
    source.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")


def test_agencies_check_prints_the_operations_and_their_parameter_trees(config_dir: Path) -> None:
    result = runner.invoke(app, ["agencies", "check", TRA], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "port CasesService/CasesSoap11Port (SOAP 1.1)" in out
    assert "SubmitCase   ← submit" in out
    assert "  kind: CaseKind (required, 1..1) one of COMPLAINT | SUGGESTION | INQUIRY" in out
    assert "  attachment[]: Attachment (optional, 0..*)" in out
    assert "    name: string (required, 1..1)" in out  # citizen.name, nested
    assert "GetCaseStatus   ← status" in out
    assert "AddNote   ← follow_ons.citizen_reply, follow_ons.answer_returned, follow_ons.cancelled" in out
    assert "OK: the configuration fits" in out


def test_agencies_check_and_config_check_name_each_problem_with_agency_and_field(config_dir: Path) -> None:
    raw = yaml.safe_load((config_dir / "agencies.yaml").read_text(encoding="utf-8"))
    submit = next(a for a in raw["agencies"] if a["id"] == TRA)["adapter"]["submit"]
    submit["parameters"]["codes"]["kind"]["inquiry"] = "QUESTION"
    submit["parameters"]["fields"]["title"] = "case.subject"
    _edit_tra(config_dir, submit=submit)
    expected = [
        f"agencies.{TRA}.adapter: submit.parameters.fields.kind: code 'QUESTION' (for 'inquiry' in code list 'kind') "
        "is not in the WSDL's enumeration COMPLAINT | SUGGESTION | INQUIRY",
        f"agencies.{TRA}.adapter: submit.parameters.fields.title: SubmitCase has no field 'title'",
    ]
    checked = runner.invoke(app, ["agencies", "check", TRA], env={"COLUMNS": "400"})
    assert checked.exit_code == 2
    for line in expected:
        assert line in checked.output
    set_hub(None)
    secrets = {"MHO_SIGNING_SECRET": "s", "MHO_API_KEY": "k", "MOL_SIGNING_SECRET": "s", "MOL_API_KEY": "k"}
    whole = runner.invoke(app, ["config", "check"], env={"COLUMNS": "400", **secrets})
    assert whole.exit_code == 2
    for line in expected:
        assert line in whole.output


def test_zeep_is_loaded_only_when_a_soap_agency_exists(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    raw = yaml.safe_load((config / "agencies.yaml").read_text(encoding="utf-8"))
    for agency in raw["agencies"]:
        if agency["adapter"]["kind"] == "soap":
            agency["adapter"] = {"kind": "manual"}
    (tmp_path / "no-soap").mkdir()
    shutil.copytree(config, tmp_path / "no-soap", dirs_exist_ok=True)
    (tmp_path / "no-soap" / "agencies.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from broker.config import load_directory\n"
        "d = load_directory(Path(sys.argv[1]))\n"
        "print(len(d.agencies), 'zeep' in sys.modules)\n"
    )
    for where, loaded in ((tmp_path / "no-soap", "False"), (config, "True")):
        done = subprocess.run(
            [sys.executable, "-c", script, str(where)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-1] == loaded


def test_a_template_is_checked_through_what_it_renders_for_the_sample_case(soap_sim: Simulator) -> None:
    template = """{"Request": {
        "Header": {"ExternalRef": {{ case.reference | tojson }}, "Source": "TAWASUL",
                   "TicketType": {{ case.kind | code('kind') | tojson }}},
        "Content": {"Title": {{ case.subject | tojson }}, "Category": "ROAD", "ReceivedOn": "2026-11-22",
                    "Urgency": "high"}}}"""
    parameters = {"template": template, "codes": {"kind": {"complaint": "1", "suggestion": "2", "inquiry": "3"}}}
    good = tickets_agency(soap_sim).adapter.settings
    adapter = soap_adapter(tickets_agency(soap_sim, submit={**good["submit"], "parameters": parameters}))
    assert sorted(adapter.problems()) == [
        "submit.parameters.template: 'ROAD' for 'Request.Content.Category' is not in the WSDL's enumeration "
        "ROADS | LIGHTING | WATER | TELECOM | GENERAL",
        "submit.parameters.template: CreateTicket has no field 'Request.Content.Urgency' (it takes: Title, "
        "Narrative, Category, ReceivedOn, Applicant, Documents)",
        "submit.parameters.template: required field 'Request.Content.Narrative' of CreateTicket is not rendered",
    ]


@pytest.mark.parametrize(
    ("drop", "add", "reason"),
    [
        ("subject", {}, "Missing element subject"),
        (None, {"bogus": "case.subject"}, "unexpected keyword argument 'bogus'"),
    ],
)
def test_a_mapping_that_does_not_fit_at_run_time_is_permanent_and_says_why(
    soap_sim: Simulator, drop: str | None, add: dict[str, str], reason: str
) -> None:
    """Found by `config check` first; if it reaches a delivery anyway, it waits for a configuration fix."""
    from adapters.errors import PermanentDeliveryError
    from adapters.testing import envelope_for

    good = cases_agency(soap_sim).adapter.settings["submit"]
    fields = {k: v for k, v in good["parameters"]["fields"].items() if k != drop} | add
    agency = cases_agency(soap_sim, submit={**good, "parameters": {**good["parameters"], "fields": fields}})
    with pytest.raises(PermanentDeliveryError) as caught:
        soap_adapter(agency).deliver(envelope_for(agency))
    assert "the agency's mapping does not fit its WSDL" in str(caught.value)
    assert reason in str(caught.value)
    assert soap_sim.controller.requests() == []  # refused before anything was sent


def test_a_port_the_wsdl_does_not_have_is_permanent_for_a_delivery_and_named_by_check(soap_sim: Simulator) -> None:
    from adapters.errors import PermanentDeliveryError
    from adapters.testing import envelope_for

    agency = cases_agency(soap_sim, port="NoSuchPort")
    with pytest.raises(PermanentDeliveryError, match="no port matches"):
        soap_adapter(agency).deliver(envelope_for(agency))
    with pytest.raises(ConfigError, match="CasesService/CasesSoap11Port, CasesService/CasesSoap12Port"):
        soap_adapter(agency).check()
