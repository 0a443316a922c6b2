"""`${VAR}` in agencies.yaml: expanded only where an agency is reached, never from the hub's own variables (L8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.config import load_directory
from broker.errors import ConfigError
from broker.settings import PROJECT_ROOT, Settings

HOUSING = "ministry-of-housing"


def _config(tmp_path: Path, change: Any) -> Path:
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "agencies.yaml").read_text(encoding="utf-8"))
    agency = next(a for a in raw["agencies"] if a["id"] == HOUSING)
    change(agency["adapter"])
    (tmp_path / "agencies.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return tmp_path


REFUSED = [
    (
        "a header",
        lambda a: a.setdefault("headers", {}).update({"X-Trace": "${HUB_NATIONAL_API_KEY}"}),
        "agencies.ministry-of-housing.adapter.headers.X-Trace: ${HUB_NATIONAL_API_KEY} is expanded only in",
    ),
    (
        "a header with an innocent name",
        lambda a: a.setdefault("headers", {}).update({"X-Region": "${REGION}"}),
        "headers.X-Region: ${REGION} is expanded only in",
    ),
    (
        "the base URL from a hub setting",
        lambda a: a.update(base_url="https://x.example.bh/${HUB_DATABASE_URL}"),
        "adapter.base_url: ${HUB_DATABASE_URL} names the hub's own setting or a secret",
    ),
    (
        "the base URL from a secret",
        lambda a: a.update(base_url="https://x.example.bh/${AGENCY_API_KEY}"),
        "adapter.base_url: ${AGENCY_API_KEY} names the hub's own setting or a secret",
    ),
]


@pytest.mark.parametrize(("what", "change", "problem"), REFUSED, ids=[r[0] for r in REFUSED])
def test_env_expansion_outside_the_url_fields_or_of_the_hubs_variables_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, change: Any, problem: str
) -> None:
    """L8: `${HUB_NATIONAL_API_KEY}` in a header (or a hub setting in a URL) cannot ship the hub's secret."""
    monkeypatch.setenv("HUB_NATIONAL_API_KEY", "n" * 40)
    monkeypatch.setenv("AGENCY_API_KEY", "a" * 40)
    with pytest.raises(ConfigError) as refused:
        load_directory(_config(tmp_path, change))
    assert any(problem in p for p in refused.value.problems), refused.value.problems


def test_a_url_field_is_expanded_from_an_agency_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """L8: base_url still reads an agency's own variable (with a default)."""
    monkeypatch.setenv("HOUSING_GATEWAY", "https://gw.housing.example.bh")
    directory = load_directory(_config(tmp_path, lambda a: a.update(base_url="${HOUSING_GATEWAY}/cases-api")))
    assert directory.agency(HOUSING).adapter.settings["base_url"] == "https://gw.housing.example.bh/cases-api"


def test_no_demo_variable_is_a_setting_of_the_hub() -> None:
    """L8: the simulators' HUB_* addresses a config may name are none of the hub's settings."""
    from broker.config import DEMO_VARIABLES

    settings = {f"HUB_{name.upper()}" for name in Settings.model_fields}
    assert not DEMO_VARIABLES & settings
