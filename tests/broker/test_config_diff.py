"""`config check --against`: a proposed agencies.yaml validated, and what it would change, never a secret."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from broker import agency_adapters
from broker.cli import app
from broker.config import load_directory
from broker.config_diff import Change, affected, diff
from broker.hub import Hub
from broker.intake import submit_cases
from broker.settings import PROJECT_ROOT
from broker.store.engine import transaction
from tests.conftest import make_case

SHIPPED = PROJECT_ROOT / "config"
Edit = Callable[[dict[str, Any]], None]
runner = CliRunner()


def agency(raw: dict[str, Any], agency_id: str) -> dict[str, Any]:
    return next(a for a in raw["agencies"] if a["id"] == agency_id)


def category(raw: dict[str, Any], category_id: str) -> dict[str, Any]:
    return next(c for c in raw["categories"] if c["id"] == category_id)


def proposal(tmp_path: Path, edit: Edit, name: str = "proposed.yaml") -> Path:
    raw = yaml.safe_load((SHIPPED / "agencies.yaml").read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def changes(tmp_path: Path, edit: Edit) -> list[Change]:
    return diff(load_directory(SHIPPED), load_directory(SHIPPED, proposal(tmp_path, edit)))


def test_the_same_configuration_changes_nothing(tmp_path: Path) -> None:
    assert changes(tmp_path, lambda raw: None) == []


def test_an_agency_added_and_one_removed(tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["agencies"].append(
            {"id": "new-authority", "name_ar": "هيئة جديدة", "name_en": "New Authority", "status": "joining"}
        )
        raw["agencies"].remove(agency(raw, "ministry-of-works"))
        for route in raw["categories"]:
            route["agencies"] = ["new-authority" if a == "ministry-of-works" else a for a in route.get("agencies", [])]

    found = changes(tmp_path, edit)
    assert [(c.section, c.subject) for c in found][:2] == [
        ("agency added", "new-authority"),
        ("agency removed", "ministry-of-works"),
    ]
    routing = {c.subject: c.detail for c in found[2:] if c.section == "routing"}
    assert len(routing) == len(found) - 2 and routing["road-maintenance"] == "ministry-of-works → new-authority"
    assert affected(found) == ["new-authority", "ministry-of-works"]


def test_onboarding_in_the_file_shows_the_status_and_the_adapter_kind(tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        muharraq = agency(raw, "muharraq-municipality")
        muharraq["status"] = "onboarded"
        muharraq["adapter"] = {
            "kind": "rest",
            "base_url": "https://muharraq.example.bh/api",
            "signing_secret_env": "MUH_SIGNING_SECRET",
        }

    found = changes(tmp_path, edit)
    assert [(c.section, c.detail) for c in found] == [
        ("status", "joining → onboarded"),
        ("adapter", "kind manual → rest"),
    ]


def test_changed_settings_show_their_keys_and_variable_names_never_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOL_SIGNING_SECRET", "the-old-secret-value")
    monkeypatch.setenv("MOL_SIGNING_SECRET_2026", "the-new-secret-value")

    def edit(raw: dict[str, Any]) -> None:
        labour = agency(raw, "ministry-of-labour")["adapter"]
        labour["signing_secret_env"] = "MOL_SIGNING_SECRET_2026"
        labour["auth"]["header"] = "X-Labour-Key"
        labour["read_timeout"] = 20

    [change] = changes(tmp_path, edit)
    assert change.section == "adapter" and change.subject == "ministry-of-labour"
    assert change.detail == (
        "rest settings changed: auth.header, read_timeout, "
        "signing_secret_env (MOL_SIGNING_SECRET → MOL_SIGNING_SECRET_2026)"
    )
    assert "X-Labour-Key" not in change.detail and "secret-value" not in change.detail


def test_other_agency_fields_and_routing_by_governorate(tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        agency(raw, "ministry-of-works")["max_in_flight"] = 4
        agency(raw, "ministry-of-works")["name_en"] = "Ministry of Works (Roads)"
        category(raw, "road-maintenance")["agencies"] = []
        category(raw, "road-maintenance")["by_governorate"] = {"default": "ministry-of-works"}

    found = changes(tmp_path, edit)
    assert [(c.section, c.subject, c.detail) for c in found] == [
        ("agency fields", "ministry-of-works", "name_en, max_in_flight"),
        ("routing", "road-maintenance", "ministry-of-works → default:ministry-of-works"),
    ]
    assert found[1].agencies == ("ministry-of-works",)


def test_a_folder_brings_its_own_deadlines(tmp_path: Path) -> None:
    folder = tmp_path / "next"
    folder.mkdir()
    shutil.copy(SHIPPED / "agencies.yaml", folder / "agencies.yaml")
    sla = yaml.safe_load((SHIPPED / "sla.yaml").read_text(encoding="utf-8"))
    sla["agencies"]["ministry-of-works"] = {"answer": "5 working days"}
    sla["warn_at"] = 0.8
    (folder / "sla.yaml").write_text(yaml.safe_dump(sla, allow_unicode=True), encoding="utf-8")
    found = diff(load_directory(SHIPPED), load_directory(folder))
    assert [(c.section, c.subject) for c in found] == [("deadlines", "ministry-of-works"), ("deadlines", "sla.yaml")]
    assert "5" in found[0].detail and found[1].detail == "changed: warn_at"


# --- the CLI ----------------------------------------------------------------------------------------


def check(hub: Hub, *args: str) -> Any:
    env = {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console", "COLUMNS": "250"}
    return runner.invoke(app, ["config", "check", "--offline", *args], env=env)


def test_the_cli_shows_the_changes_and_the_open_handoffs_of_each_agency_affected(
    sqlite_hub: Hub, tmp_path: Path
) -> None:
    cases = [make_case(category="road-maintenance") for _ in range(2)]
    submit_cases(sqlite_hub.engine, sqlite_hub.directory, cases, actor="national-system")

    def edit(raw: dict[str, Any]) -> None:
        category(raw, "road-maintenance")["agencies"] = ["ministry-of-housing"]

    result = check(sqlite_hub, "--against", str(proposal(tmp_path, edit)))
    assert result.exit_code == 0, result.output
    assert "road-maintenance" in result.output and "ministry-of-works → ministry-of-housing" in result.output
    works = [line for line in result.output.splitlines() if line.startswith("│ ministry-of-works")][-1]
    assert works.split("│")[-2].strip() == "2"
    assert "valid / صالحة" in result.output


def test_the_cli_says_when_nothing_changes(sqlite_hub: Hub, tmp_path: Path) -> None:
    result = check(sqlite_hub, "--against", str(proposal(tmp_path, lambda raw: None)))
    assert result.exit_code == 0, result.output
    assert "no change" in result.output


def test_the_cli_refuses_an_invalid_proposal_with_every_problem_and_its_path(sqlite_hub: Hub, tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        agency(raw, "ministry-of-labour")["adapter"]["read_timeout"] = -1
        category(raw, "road-maintenance")["agencies"] = ["no-such-agency"]

    result = check(sqlite_hub, "--against", str(proposal(tmp_path, edit)))
    assert result.exit_code == 2
    assert "agencies.ministry-of-labour.adapter.read_timeout" in result.output
    assert "categories.road-maintenance: unknown agency 'no-such-agency'" in result.output
    missing = check(sqlite_hub, "--against", str(tmp_path / "absent.yaml"))
    assert missing.exit_code == 2 and "file not found" in missing.output


def test_the_cli_says_when_a_run_time_switch_outlives_the_file(sqlite_hub: Hub, tmp_path: Path) -> None:
    block = {"kind": "rest", "base_url": "https://muharraq.example.bh/api", "signing_secret_env": "MUH_SECRET"}
    with transaction(sqlite_hub.engine) as conn:
        agency_adapters.write(conn, "muharraq-municipality", adapter=block, shadow=None, actor="integrator:test")

    def edit(raw: dict[str, Any]) -> None:
        agency(raw, "muharraq-municipality")["contacts"] = []
        agency(raw, "muharraq-municipality").update(status="onboarded", adapter={**block, "base_url": "https://x.bh"})

    result = check(sqlite_hub, "--against", str(proposal(tmp_path, edit)))
    assert result.exit_code == 0, result.output
    assert "muharraq-municipality: its adapter was switched at run time" in result.output
