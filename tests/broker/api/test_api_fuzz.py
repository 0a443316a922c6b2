"""Schemathesis against the live OpenAPI document: no request to the intake or agency API makes a 5xx.

Every operation gets a bounded, derandomised run of valid and invalid requests over a real socket.
Half of the requests naming a handoff or a case name a real one, so the fuzzer reaches the
lifecycle checks and not only the 404s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from broker import agency_keys
from broker.api import create_app
from broker.hub import Hub, set_hub
from broker.intake import submit_cases
from broker.settings import Settings
from broker.store.cases import get_case
from broker.store.migrate import upgrade
from tests.broker.api.test_agency_api import WORKS, connected_config
from tests.conftest import API_KEY, hub_settings, make_case
from tests.support import live_api, pump

EXAMPLES = 25
"""Examples per operation: enough to cross every schema branch, small enough to run in seconds."""


@dataclass
class Target:
    """The live hub being fuzzed and real ids to aim at."""

    base: str
    agency_key: str
    handoffs: list[str]
    cases: list[str]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("fuzz")
    hub = Hub(hub_settings(f"sqlite:///{tmp / 'hub.db'}", tmp, config_dir=connected_config(Path(tmp))))
    upgrade(hub.engine)
    set_hub(hub)
    accepted = submit_cases(
        hub.engine, hub.directory, [make_case(category="road-maintenance") for _ in range(4)], actor="national-system"
    )
    pump(hub)
    with hub.engine.connect() as conn:
        handoffs = [get_case(conn, a.case_id).handoffs[0].id for a in accepted]
    key = agency_keys.create(hub.engine, hub.directory, WORKS, created_by="fuzz").key
    with live_api(hub) as base:
        yield Target(base, key, handoffs, [a.reference for a in accepted])
    set_hub(None)
    hub.engine.dispose()


def _document() -> dict[str, Any]:
    """The OpenAPI document create_app serves (it depends on code only, not on data or settings)."""
    return create_app(Hub(Settings(database_url="sqlite://"))).openapi()


# Loaded at import: schemathesis's fixture-based loader (schemathesis.pytest.from_fixture) fails
# on pytest 9 ('Function' object has no attribute '_nodeid'). The test checks this document is
# the one the live server serves, and every request goes to the live server over its socket.
schema = schemathesis.openapi.from_dict(_document())
_turn = itertools.count()


def test_the_fuzzed_document_is_the_one_the_live_hub_serves(target: Target) -> None:
    assert requests.get(f"{target.base}/openapi.json", timeout=10).json() == _document()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_hub_answer_a_server_error(case: schemathesis.Case[Any], target: Target) -> None:
    key = target.agency_key if case.path.startswith("/agency/") else API_KEY
    n = next(_turn)
    if n % 2 == 0:
        _aim_at_real_records(case, target, n // 2)
    case.call_and_validate(base_url=target.base, headers={"X-API-Key": key}, checks=[not_a_server_error])


def _aim_at_real_records(case: schemathesis.Case[Any], target: Target, n: int) -> None:
    """Name a real handoff, case, category or agency where the generator invented one."""
    params = case.path_parameters or {}
    body = case.body if isinstance(case.body, dict) else {}
    if "handoff_id" in params:
        params["handoff_id"] = target.handoffs[n % len(target.handoffs)]
        if "handoff" in body:
            body["handoff"] = params["handoff_id"]
    if "case_id" in params:
        params["case_id"] = target.cases[n % len(target.cases)]
    if "transfer_to" in body:
        body["transfer_to"] = "ministry-of-health"
    if "category" in body:
        body["category"] = "road-maintenance"
    if body.get("agency") is not None:
        body["agency"] = WORKS


def test_found_by_fuzzing_an_event_cursor_beyond_bigint_is_refused_not_a_server_error(target: Target) -> None:
    r = requests.get(
        f"{target.base}/v1/events", params={"after": 2**64 - 1}, headers={"X-API-Key": API_KEY}, timeout=10
    )
    assert r.status_code == 422, r.text
    assert "after" in r.json()["detail"]
