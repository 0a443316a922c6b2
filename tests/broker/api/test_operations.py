"""What operators' tools ask the API: alive, ready (store reachable, schema current), and metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.migrate import schema_status, upgrade
from schemas import AgencyMessage, MessageKind
from tests.conftest import API_KEY, hub_settings, make_case
from tests.netcut import relay_to
from tests.services import PG_ADMIN_URL
from tests.support import live_api, pump, wait_until

CITIZEN = {"name": "حسن جعفر المحروس", "cpr": "910203040", "email": "hassan.j@example.bh", "mobile": "+97339887766"}


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(body: str, name: str, **labels: str) -> float:
    return samples(body).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def api(any_hub: Hub) -> Iterator[tuple[Hub, str]]:
    with live_api(any_hub) as base:
        yield any_hub, base


def test_metrics_count_what_happened_and_show_the_store_state_without_any_personal_data(api: tuple[Hub, str]) -> None:
    hub, base = api
    before = requests.get(f"{base}/metrics", timeout=10).text
    sent = make_case(category="social-insurance-pensions", citizen=CITIZEN).model_dump(mode="json")
    created = requests.post(f"{base}/v1/cases", json=sent, headers={"X-API-Key": API_KEY}, timeout=10)
    assert created.status_code == 201, created.text
    pump(hub)
    handoff = created.json()["handoffs"][0]["id"]
    record_message(
        hub.engine,
        hub.directory,
        handoff,
        AgencyMessage(kind=MessageKind.acknowledged),
        Sender(actor="x", source="manual"),
    )

    page = requests.get(f"{base}/metrics", timeout=10)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    after = page.text
    agency = "social-insurance-organisation"
    grew = {
        ("hub_cases_received_total", (("channel", "portal"), ("kind", "complaint"))): 1,
        ("hub_deliveries_total", (("adapter", "manual"), ("agency", agency), ("outcome", "delivered"))): 1,
        ("hub_delivery_attempts_total", (("adapter", "manual"), ("agency", agency), ("result", "ok"))): 1,
        ("hub_delivery_latency_seconds_count", (("agency", agency),)): 1,
        ("hub_agency_messages_total", (("kind", "acknowledged"), ("source", "manual"))): 1,
        (
            "hub_http_request_seconds_count",
            (("method", "POST"), ("route", "/v1/cases"), ("status", "201")),
        ): 1,
    }
    now, then = samples(after), samples(before)
    assert {k: now.get(k, 0) - then.get(k, 0) for k in grew} == grew
    assert value(after, "hub_store_up") == 1
    assert value(after, "hub_handoffs_open", agency=agency, state="acknowledged") == 1
    assert value(after, "hub_followup_queue", reason="manual") == 1
    assert value(after, "hub_agency_circuit_state", agency="ministry-of-health", state="closed") == 1
    assert value(after, "hub_outbox_lag_seconds", topic="deliver", agency=agency) == 0
    secrets = [*CITIZEN.values(), sent["subject"], handoff, created.json()["id"], sent["reference"]]
    assert [s for s in secrets if s in after] == []


def test_metrics_ask_for_the_bearer_token_when_one_is_set(sqlite_hub: Hub) -> None:
    sqlite_hub.settings.metrics_token = SecretStr("scrape-token-7d1f")
    with live_api(sqlite_hub) as base:
        refused = [requests.get(f"{base}/metrics", headers=h, timeout=10) for h in ({}, {"Authorization": "Bearer x"})]
        allowed = requests.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape-token-7d1f"}, timeout=10)
    assert [r.status_code for r in refused] == [401, 401]
    assert allowed.status_code == 200 and "hub_store_up 1.0" in allowed.text


def test_liveness_and_readiness_on_a_current_store(any_hub: Hub) -> None:
    with live_api(any_hub) as base:
        alive = requests.get(f"{base}/healthz", timeout=10)
        ready = requests.get(f"{base}/readyz", timeout=10)
    assert alive.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"]
    assert checks["broker"] == {"ok": True, "detail": "in-process", "required": False}


def test_readiness_fails_while_the_schema_is_behind_and_passes_once_it_is_upgraded(tmp_path: Path) -> None:
    hub = Hub(hub_settings(f"sqlite:///{tmp_path / 'old.db'}", tmp_path))
    upgrade(hub.engine, "0004")
    with live_api(hub) as base:
        behind = requests.get(f"{base}/readyz", timeout=10)
        upgrade(hub.engine)
        current = requests.get(f"{base}/readyz", timeout=10)
    assert behind.status_code == 503
    assert "run `tawasul-hub db upgrade`" in behind.json()["checks"]["migrations"]["detail"]
    assert current.status_code == 200


def test_a_store_migrated_by_a_newer_release_is_ready_during_a_rolling_upgrade(sqlite_hub: Hub) -> None:
    with sqlite_hub.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    with live_api(sqlite_hub) as base:
        ready = requests.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200
    assert "newer than this code" in ready.json()["checks"]["migrations"]["detail"]


@pytest.mark.postgres
def test_readiness_fails_while_postgresql_is_unreachable_and_comes_back_with_it(
    pg_hub: Hub, pg_database: str, tmp_path: Path
) -> None:
    with relay_to(5432) as relay:
        url = pg_database.replace("@127.0.0.1:5432/", f"@127.0.0.1:{relay.port}/")
        hub = Hub(hub_settings(url, tmp_path))
        with live_api(hub) as base:
            assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
            relay.cut()
            down = requests.get(f"{base}/readyz", timeout=20)
            scrape = requests.get(f"{base}/metrics", timeout=20)
            relay.restore()
            wait_until(lambda: requests.get(f"{base}/readyz", timeout=20).status_code == 200, "readiness to return")
        hub.engine.dispose()
    assert down.status_code == 503
    assert down.json()["checks"]["database"]["ok"] is False
    assert "OperationalError" in down.json()["checks"]["database"]["detail"]
    assert scrape.status_code == 200 and "hub_store_up 0.0" in scrape.text


@pytest.mark.postgres
def test_readiness_on_postgresql_fails_until_the_new_migration_has_run(pg_database: str, tmp_path: Path) -> None:
    name = pg_database.rsplit("/", 1)[1] + "_old"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        hub = Hub(hub_settings(pg_database.rsplit("/", 1)[0] + f"/{name}", tmp_path))
        upgrade(hub.engine, "0004")
        with live_api(hub) as base:
            behind = requests.get(f"{base}/readyz", timeout=10)
            upgrade(hub.engine)
            current = requests.get(f"{base}/readyz", timeout=10)
        head = schema_status(hub.engine).head
        hub.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    assert (behind.status_code, current.status_code) == (503, 200)
    assert f"needs {head}" in behind.json()["checks"]["migrations"]["detail"]


def test_a_case_submitted_before_the_scrape_shows_in_the_outbox_lag_until_delivered(sqlite_hub: Hub) -> None:
    submit_cases(sqlite_hub.engine, sqlite_hub.directory, [make_case(category="public-bus")], actor="ns")
    with live_api(sqlite_hub) as base:
        waiting = requests.get(f"{base}/metrics", timeout=10).text
        pump(sqlite_hub)
        done = requests.get(f"{base}/metrics", timeout=10).text
    lag = {k: v for k, v in samples(waiting).items() if k[0] == "hub_outbox_lag_seconds" and v > 0}
    assert len(lag) == 1
    assert [v for k, v in samples(done).items() if k[0] == "hub_outbox_lag_seconds" and v > 0] == []
