"""Test helpers for REST agencies: a hub whose shipped REST agencies point at a live simulator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from adapters.testing.rest_agency import Controller, simulate_agencies
from broker.hub import Hub
from broker.intake import submit_cases
from broker.settings import PROJECT_ROOT
from broker.store.tables import handoffs
from schemas import AgencyConfig, CaseIn
from tests.support import pump

SECRET = "test-signing-secret-0123456789"
SECRET_ENV = "TEST_REST_SIGNING_SECRET"


def rest_agency(base_url: str, agency_id: str = "ministry-of-housing", **settings: Any) -> AgencyConfig:
    """A REST agency config pointed at `base_url`/`agency_id`, signing with SECRET_ENV."""
    adapter = {
        "kind": "rest",
        "base_url": f"{base_url}/{agency_id}",
        "plain_http": base_url.startswith("http://"),
        "signing_secret_env": SECRET_ENV,
        "ticket": "ticket_id",
        "read_timeout": 5,
        **settings,
    }
    return AgencyConfig.model_validate(
        {
            "id": agency_id,
            "name_ar": "وزارة الإسكان",
            "name_en": "Ministry of Housing",
            "status": "onboarded",
            "adapter": adapter,
        }
    )


def hub_on_simulator(hub: Hub, sim: tuple[str, Controller], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """`hub` with the shipped agencies.yaml, its REST agencies played by the simulator, secrets set."""
    url, controller = sim
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(PROJECT_ROOT / "config" / "agencies.yaml", config / "agencies.yaml")
    monkeypatch.setenv("HUB_SIMULATOR_URL", url)
    hub.settings = hub.settings.model_copy(update={"config_dir": config})
    env: dict[str, str] = {}
    simulate_agencies(hub.directory.agencies.values(), controller, env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return hub


def change_adapter(hub: Hub, agency_id: str, **changes: Any) -> None:
    """Edit one agency's adapter block in the hub's agencies.yaml and reload the directory."""
    source = hub.settings.config_dir / "agencies.yaml"
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    agency = next(a for a in raw["agencies"] if a["id"] == agency_id)
    agency["adapter"].update(changes)
    source.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    hub.__dict__.pop("directory", None)


def deliver(hub: Hub, case: CaseIn) -> dict[str, Any]:
    """Submit one case, relay and deliver it in this thread; the handoff row afterwards."""
    [accepted] = submit_cases(hub.engine, hub.directory, [case], actor="national-system")
    pump(hub)
    return handoff(hub, case_id=accepted.case_id)


def handoff(hub: Hub, *, case_id: str) -> dict[str, Any]:
    """The (single) handoff of a case."""
    with hub.engine.connect() as conn:
        return dict(conn.execute(select(handoffs).where(handoffs.c.case_id == case_id)).one()._mapping)
