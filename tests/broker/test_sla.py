"""config/sla.yaml: checked at start-up with every problem and its path; overrides resolved."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.cli import app
from broker.config import load_directory
from broker.errors import ConfigError
from broker.settings import PROJECT_ROOT

runner = CliRunner()


def config_dir(tmp_path: Path, sla: str | None) -> Path:
    shutil.copy(PROJECT_ROOT / "config" / "agencies.yaml", tmp_path / "agencies.yaml")
    if sla is not None:
        (tmp_path / "sla.yaml").write_text(sla, encoding="utf-8")
    return tmp_path


def problems(tmp_path: Path, sla: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_directory(config_dir(tmp_path, sla))
    return caught.value.problems


def test_every_problem_in_sla_yaml_is_reported_with_its_path(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
warn_at: 1.5
calendar: {timezone: Asia/Nowhere, working_hours: {start: "14:00", end: "07:00"}}
kinds:
  complaint: {acknowledge: 1 working day, answer: ten days, review: 2 working days}
escalation:
  - {id: head, name_ar: رئيس, name_en: Head, after: soon}
""",
    )
    assert "sla.yaml: warn_at: Input should be less than 1" in found
    assert any(
        p.startswith("sla.yaml: calendar.working_hours: Value error, `start` must be before `end`") for p in found
    )
    assert any(p.startswith("sla.yaml: kinds.complaint.answer: Value error, write a duration like") for p in found)
    assert any(p.startswith("sla.yaml: escalation.0.after: Value error") for p in found)
    assert len(found) == 4


def test_overrides_must_name_known_agencies_and_categories(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
agencies: {ministry-of-nowhere: {answer: 3 working days}}
categories: {flying-carpets: {answer: 1 working day}}
""",
    )
    assert found == [
        "sla.yaml: agencies.ministry-of-nowhere: unknown agency 'ministry-of-nowhere'",
        "sla.yaml: categories.flying-carpets: unknown category 'flying-carpets'",
    ]


def test_without_sla_yaml_the_built_in_levels_apply(tmp_path: Path) -> None:
    directory = load_directory(config_dir(tmp_path, None))
    assert (
        str(directory.sla.deadlines("complaint", "public-schools", "ministry-of-education").answer) == "10 working days"
    )


@pytest.mark.parametrize(
    ("kind", "category", "agency", "acknowledge", "answer"),
    [
        ("complaint", "public-schools", "ministry-of-education", "1 working day", "10 working days"),
        ("complaint", "water-supply", "egovernment-authority", "1 working day", "5 working days"),
        ("complaint", "food-safety", "ministry-of-health", "4 working hours", "3 working days"),
        ("inquiry", "food-safety", "ministry-of-health", "4 working hours", "3 working days"),
        ("suggestion", "food-safety", "ministry-of-health", "4 working hours", "15 working days"),
        ("inquiry", "public-schools", "ministry-of-education", "1 working day", "5 working days"),
    ],
)
def test_the_most_specific_rule_wins(kind: str, category: str, agency: str, acknowledge: str, answer: str) -> None:
    rules = load_directory(PROJECT_ROOT / "config").sla.deadlines(kind, category, agency)
    assert (str(rules.acknowledge), str(rules.answer)) == (acknowledge, answer)


def test_config_check_reports_the_sla_problems_and_fails(tmp_path: Path) -> None:
    directory = config_dir(tmp_path, "warn_at: 0\n")
    result = runner.invoke(app, ["config", "check"], env={"HUB_CONFIG_DIR": str(directory), "COLUMNS": "200"})
    assert result.exit_code == 2
    assert "sla.yaml: warn_at: Input should be greater than 0" in result.output


def test_config_check_summarises_the_sla_policy() -> None:
    result = runner.invoke(app, ["config", "check", "--offline"], env={"HUB_CONFIG_DIR": str(PROJECT_ROOT / "config")})
    assert result.exit_code == 0, result.output
    assert "sla.yaml: OK: warn at 75%" in result.output
    assert "3 escalation level(s)" in result.output
