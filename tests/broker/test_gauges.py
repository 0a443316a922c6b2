"""The store's state as gauges: counted per agency and reason, read with indexed queries at scrape time."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import generate_latest
from sqlalchemy import func, select, update

from broker import circuit
from broker.gauges import store_registry
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.engine import now, transaction
from broker.store.tables import handoffs, outbox
from tests.broker.api.test_operations import value
from tests.conftest import make_case
from tests.support import pump


def scrape(hub: Hub) -> str:
    return generate_latest(store_registry(hub)).decode()


def test_overdue_and_escalated_handoffs_circuits_and_outbox_lag_are_counted_per_agency(any_hub: Hub) -> None:
    manual, bus = "social-insurance-organisation", "ministry-of-transportation"
    cases = [make_case(category="social-insurance-pensions"), make_case(category="social-insurance-pensions")]
    submit_cases(any_hub.engine, any_hub.directory, cases, "ns")
    pump(any_hub)
    submit_cases(any_hub.engine, any_hub.directory, [make_case(category="public-bus")], "ns")
    with transaction(any_hub.engine) as conn:
        first = conn.execute(select(func.min(handoffs.c.id)).where(handoffs.c.agency_id == manual)).scalar_one()
        conn.execute(update(handoffs).where(handoffs.c.agency_id == manual).values(overdue=True))
        conn.execute(
            update(handoffs)
            .where(handoffs.c.id == first)
            .values(escalation_level=2, followup_reason="escalated", followup="overdue since x")
        )
        conn.execute(update(outbox).values(due_at=now() - timedelta(seconds=90)))
        failing = circuit.Circuit("ministry-of-health")
        opened = circuit.after_failure(failing, "boom", now() - timedelta(minutes=20), circuit.Policy(1, 30, 600, 60))
        circuit.save(conn, opened)

    page = scrape(any_hub)

    assert value(page, "hub_handoffs_open", agency=manual, state="delivered") == 2
    assert value(page, "hub_handoffs_overdue", agency=manual) == 2
    assert value(page, "hub_handoffs_escalated", agency=manual) == 1
    assert value(page, "hub_followup_queue", reason="escalated") == 1
    assert value(page, "hub_followup_queue", reason="manual") == 1
    assert value(page, "hub_agency_circuit_state", agency="ministry-of-health", state="open") == 1
    assert value(page, "hub_agency_circuit_state", agency="ministry-of-health", state="closed") == 0
    assert 1190 <= value(page, "hub_agency_circuit_open_seconds", agency="ministry-of-health") <= 1300
    assert 89 <= value(page, "hub_outbox_lag_seconds", topic="deliver", agency=bus) <= 120
    assert value(page, "hub_outbox_lag_seconds", topic="deliver", agency=manual) == 0


def test_the_webhook_gauges_appear_when_a_webhook_is_set(sqlite_hub: Hub) -> None:
    assert "hub_webhook_behind_events" not in scrape(sqlite_hub)
    sqlite_hub.settings.webhook_url = "http://127.0.0.1:9/events"
    submit_cases(sqlite_hub.engine, sqlite_hub.directory, [make_case(category="public-bus")], "ns")
    with transaction(sqlite_hub.engine) as conn:
        from broker import events

        events.sequence(conn)
    page = scrape(sqlite_hub)
    assert value(page, "hub_webhook_behind_events") == 2
    assert value(page, "hub_webhook_failing") == 0
