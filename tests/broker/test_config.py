"""agencies.yaml: the shipped file is complete, and a broken one reports every problem with its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import load_directory
from broker.errors import ConfigError
from broker.settings import PROJECT_ROOT

SEED_AGENCIES = {
    "egovernment-authority", "ministry-of-health", "central-informatics-organisation", "ministry-of-housing",
    "ministry-of-labour", "ministry-of-social-development", "ministry-of-transportation", "ministry-of-works",
    "national-health-regulatory-authority", "telecommunications-regulatory-authority", "central-municipality",
    "northern-municipality", "ministry-of-foreign-affairs", "ministry-of-finance",
    "bahrain-exhibitions-and-convention-authority", "ministry-of-culture", "institute-of-public-administration",
    "central-bank-of-bahrain", "information-affairs-authority", "ministry-of-education",
    "general-organisation-for-youth-and-sports", "national-authority-for-qualifications-and-quality-assurance",
    "capital-governorate", "ministry-of-industry-and-commerce",
}  # fmt: skip
JOINING = {"muharraq-municipality", "capital-municipality", "social-insurance-organisation"}


def test_the_shipped_config_has_every_agency_of_the_seed_in_arabic_and_english() -> None:
    d = load_directory(PROJECT_ROOT / "config")
    assert set(d.agencies) == SEED_AGENCIES | JOINING
    assert {a.id for a in d.agencies.values() if a.status == "joining"} == JOINING
    assert all(d.agencies[a].adapter.kind == "manual" for a in JOINING)
    assert all(a.name_ar and a.name_en and a.contacts for a in d.agencies.values())
    assert d.operator().id == "egovernment-authority"
    assert len(d.categories) == 40


BROKEN = """
agencies:
  - id: egovernment-authority
    name_ar: هيئة الحكومة الإلكترونية
    name_en: eGovernment Authority
    status: onboarded
    operator: true
  - id: ministry-of-works
    name_ar: وزارة الأشغال
    status: onboarded
    adapter: {kind: manaul}
  - id: social-insurance-organisation
    name_ar: الهيئة العامة للتأمين الاجتماعي
    name_en: Social Insurance Organisation
    status: joining
    adapter: {kind: stub}
  - id: ministry-of-health
    name_ar: وزارة الصحة
    name_en: Ministry of Health
    status: onboarded
    adapter: {kind: stub, fail: sometimes}
categories:
  - {id: road-maintenance, name_ar: صيانة الطرق, name_en: Roads, agencies: [ministry-of-roads]}
"""


def test_a_broken_config_reports_every_problem_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "agencies.yaml").write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_directory(tmp_path)
    problems = caught.value.problems
    assert any(p.startswith("agencies.yaml: agencies.ministry-of-works.name_en: Field required") for p in problems)
    assert any("agencies.social-insurance-organisation" in p and "manual adapter" in p for p in problems)
    assert len(problems) == 2  # model errors first; the rest is checked once the shape is right

    fixed = BROKEN.replace(
        "    status: onboarded\n    adapter: {kind: manaul}",
        "    name_en: Ministry of Works\n    status: onboarded\n    adapter: {kind: manaul}",
    )
    fixed = fixed.replace("    status: joining\n    adapter: {kind: stub}", "    status: joining")
    (tmp_path / "agencies.yaml").write_text(fixed, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_directory(tmp_path)
    problems = caught.value.problems
    assert (
        "agencies.yaml: agencies.ministry-of-works.adapter.kind: unknown adapter kind 'manaul'; did you mean 'manual'?"
        in problems
    )
    assert any(
        p.startswith("agencies.yaml: agencies.ministry-of-health.adapter.fail: Input should be") for p in problems
    )
    assert "agencies.yaml: categories.road-maintenance: unknown agency 'ministry-of-roads'" in problems
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [("agencies: [", "not valid YAML"), ("- just a list", "expected a mapping")],
)
def test_an_unreadable_config_says_why(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "agencies.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_directory(tmp_path)
