"""The `tawasul-hub` command against a real SQLite store: follow-up queue, config, schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.cli import app
from broker.hub import Hub
from broker.intake import submit_cases
from tests.conftest import make_case
from tests.support import pump

runner = CliRunner()


def env(hub: Hub) -> dict[str, str]:
    return {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console"}


@pytest.fixture
def queued(sqlite_hub: Hub) -> tuple[Hub, str]:
    """A hub with one case delivered to a manual agency: one line on the follow-up queue."""
    case = make_case(category="social-insurance-pensions", subject="تأخر صرف المعاش التقاعدي")
    submit_cases(sqlite_hub.engine, sqlite_hub.directory, [case], actor="national-system")
    pump(sqlite_hub)
    listed = runner.invoke(app, ["followup", "list", "--json"], env=env(sqlite_hub))
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.output)
    return sqlite_hub, item["handoff"]


def test_followup_list_shows_the_manual_handoff_in_arabic(queued: tuple[Hub, str]) -> None:
    hub, handoff = queued
    result = runner.invoke(app, ["followup", "list", "--agency", "social-insurance-organisation"], env=env(hub))
    assert result.exit_code == 0, result.output
    assert handoff[:10] in result.output
    other = runner.invoke(app, ["followup", "list", "--agency", "ministry-of-health", "--json"], env=env(hub))
    assert json.loads(other.output) == []


def test_followup_show_gives_the_case_and_the_agency_contacts(queued: tuple[Hub, str]) -> None:
    hub, handoff = queued
    result = runner.invoke(app, ["followup", "show", handoff], env=env(hub))
    assert result.exit_code == 0, result.output
    assert "تأخر صرف المعاش التقاعدي" in result.output
    assert "الهيئة العامة للتأمين الاجتماعي" in result.output
    assert "Tawasul liaison" in result.output


def test_a_recorded_phone_answer_leaves_the_queue_and_names_who_recorded_it(queued: tuple[Hub, str]) -> None:
    hub, handoff = queued
    args = ["followup", "record", handoff, "answered", "--text", "تم صرف المعاش", "--by", "amina"]
    result = runner.invoke(app, args, env=env(hub))
    assert result.exit_code == 0, result.output
    assert "answered" in result.output
    again = runner.invoke(app, args, env=env(hub))
    assert "already recorded" in again.output
    assert json.loads(runner.invoke(app, ["followup", "list", "--json"], env=env(hub)).output) == []
    shown = runner.invoke(app, ["followup", "show", handoff], env=env(hub)).output
    assert "central-office:amina" in shown


RECORD_ERRORS = [
    (["answered"], "--text: required"),
    (["transfer_requested", "--transfer-to", "ministry-of-magic"], "--transfer-to: unknown agency"),
    (["praised"], "Invalid value"),
]


@pytest.mark.parametrize(("args", "message"), RECORD_ERRORS)
def test_recording_refuses_bad_input_naming_the_option(queued: tuple[Hub, str], args: list[str], message: str) -> None:
    hub, handoff = queued
    result = runner.invoke(app, ["followup", "record", handoff, *args], env=env(hub))
    assert result.exit_code == 2
    assert message in result.output


def test_recording_on_an_unknown_handoff_or_in_the_wrong_state_is_refused(queued: tuple[Hub, str]) -> None:
    hub, handoff = queued
    unknown = runner.invoke(app, ["followup", "record", "h_nope", "acknowledged"], env=env(hub))
    assert unknown.exit_code == 1 and "no handoff 'h_nope'" in unknown.output
    runner.invoke(app, ["followup", "record", handoff, "answered", "--text", "تم"], env=env(hub))
    late = runner.invoke(app, ["followup", "record", handoff, "progress", "--text", "…"], env=env(hub))
    assert late.exit_code == 1 and "handoff is answered; cannot progress" in late.output


def test_a_transfer_recorded_by_phone_creates_a_handoff_to_the_new_agency(queued: tuple[Hub, str]) -> None:
    hub, handoff = queued
    args = [
        "followup",
        "record",
        handoff,
        "transfer_requested",
        "--transfer-to",
        "ministry-of-labour",
        "--text",
        "ليس من اختصاصنا",
    ]
    assert runner.invoke(app, args, env=env(hub)).exit_code == 0
    from broker.store.cases import get_case

    with hub.engine.connect() as conn:
        [row] = conn.exec_driver_sql("SELECT case_id FROM handoffs WHERE id = ?", (handoff,)).all()
        read = get_case(conn, row[0])
    assert sorted((h.agency, h.state) for h in read.handoffs) == [
        ("ministry-of-labour", "pending"),
        ("social-insurance-organisation", "transferred"),
    ]


def test_config_check_passes_on_the_shipped_config_offline() -> None:
    result = runner.invoke(app, ["config", "check", "--offline"])
    assert result.exit_code == 0, result.output
    assert "27 agencies (3 joining), 40 categories" in result.output


def test_config_check_asks_each_connected_agency_and_names_what_is_missing() -> None:
    """Online, each adapter's `check()` runs: secrets missing from the environment are named per agency."""
    from adapters.testing.email_agency import running_mail_server
    from adapters.testing.rest_agency import running_simulator
    from adapters.testing.soap_agency import running_simulator as running_soap_simulator

    with running_simulator() as (url, _), running_soap_simulator() as soap, running_mail_server() as mail:
        urls = {"HUB_SIMULATOR_URL": url, "HUB_SOAP_SIMULATOR_URL": soap.url, "HUB_EMAIL_SMTP_PORT": str(mail.port)}
        missing = runner.invoke(app, ["config", "check"], env={**urls, "COLUMNS": "300"})
        assert missing.exit_code == 2
        assert (
            "agencies.ministry-of-labour.adapter: environment variable MOL_SIGNING_SECRET is not set" in missing.output
        )
        secrets = {name: "s3cret-for-the-check" for name in ("MHO_SIGNING_SECRET", "MHO_API_KEY", "MOL_SIGNING_SECRET")}
        secrets |= {"MOL_API_KEY": "k", "NM_SIGNING_SECRET": "s", "NM_API_TOKEN": "t", "TRA_SOAP_PASSWORD": "p"}
        ok = runner.invoke(app, ["config", "check", "--verbose"], env={**urls, **secrets})
    assert ok.exit_code == 0, ok.output
    assert '"idempotent": true' in ok.output  # describe(): what each connected agency's adapter does


def test_config_check_lists_every_problem_and_fails(tmp_path: Path) -> None:
    (tmp_path / "agencies.yaml").write_text("agencies: []\ncategories: []\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "check"], env={"HUB_CONFIG_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "exactly one agency must be `operator: true`" in result.output


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check"], env={"HUB_MAX_ATTEMPTS": "many"})
    assert result.exit_code == 2
    assert "HUB_MAX_ATTEMPTS" in result.output


def test_schemas_export_writes_a_json_schema_per_wire_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    case = json.loads((tmp_path / "out" / "case.schema.json").read_text(encoding="utf-8"))
    assert {"reference", "kind", "category", "citizen"} <= set(case["required"] + list(case["properties"]))
    message = json.loads((tmp_path / "out" / "agency-message.schema.json").read_text(encoding="utf-8"))
    assert "needs_info" in json.dumps(message)
    assert "انقطاع المياه" in json.dumps(case, ensure_ascii=False)


def test_a_lease_shorter_than_the_longest_delivery_is_refused_at_start_up() -> None:
    """M1: start-up refuses settings whose lease is shorter than the longest delivery they allow."""
    result = runner.invoke(
        app, ["worker"], env={"HUB_LEASE_SECONDS": "60", "HUB_DELIVERY_TIMEOUT": "40", "COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "HUB_LEASE_SECONDS (60) must be longer than one delivery may take: 2 × HUB_DELIVERY_TIMEOUT = 80 s" in (
        result.output
    )
