"""The circuit breaker per agency: the pure state machine, then the relay and dispatch around it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from structlog.testing import capture_logs

from adapters.testing import StubSettings
from broker import circuit, dispatch, followup
from broker.circuit import Circuit, CircuitState, Policy, after_failure, after_success, allowance, start_probe
from broker.hub import Hub
from broker.store.engine import now, transaction
from broker.store.tables import agency_circuits, handoffs, outbox
from tests.broker.agency_setup import hub_with_agencies, submit
from tests.support import collecting_relay, pump, wait_until

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
POLICY = Policy(failures=3, cooldown=10.0, cooldown_cap=40.0, probe_lease=5.0)
S = timedelta(seconds=1)

CLOSED = Circuit("agency")
TWO_FAILURES = Circuit("agency", consecutive_failures=2)
OPEN = Circuit("agency", CircuitState.open, 3, 0, T0, T0 + 10 * S)
HALF_OPEN = Circuit("agency", CircuitState.half_open, 3, 0, T0, T0 + 10 * S, T0 + 15 * S)
HALF_OPEN_AFTER_TWO_PROBES = Circuit("agency", CircuitState.half_open, 5, 2, T0, T0 + 40 * S, T0 + 45 * S)

FAILURES = [
    # (circuit before, expected state, failures, failed probes, open until)
    (CLOSED, CircuitState.closed, 1, 0, None),
    (TWO_FAILURES, CircuitState.open, 3, 0, T0 + 10 * S),
    (OPEN, CircuitState.open, 4, 0, T0 + 10 * S),  # a late report does not extend the cool-down
    (HALF_OPEN, CircuitState.open, 4, 1, T0 + 20 * S),  # a failed probe doubles it
    (HALF_OPEN_AFTER_TWO_PROBES, CircuitState.open, 6, 3, T0 + 40 * S),  # 80 s, capped at 40
]


@pytest.mark.parametrize(("before", "state", "failures", "reopened", "until"), FAILURES)
def test_a_retriable_failure_moves_the_circuit(
    before: Circuit, state: CircuitState, failures: int, reopened: int, until: datetime | None
) -> None:
    after = after_failure(before, "timeout", T0, POLICY)
    assert (after.state, after.consecutive_failures, after.reopened, after.opened_until) == (
        state,
        failures,
        reopened,
        until,
    )
    assert after.last_error == "timeout"


@pytest.mark.parametrize("before", [CLOSED, TWO_FAILURES, OPEN, HALF_OPEN, HALF_OPEN_AFTER_TWO_PROBES])
def test_a_success_closes_the_circuit_and_forgets_the_failures(before: Circuit) -> None:
    after = after_success(before)
    assert (after.state, after.consecutive_failures, after.reopened, after.opened_until) == (
        CircuitState.closed,
        0,
        0,
        None,
    )


ALLOWANCES = [
    # (circuit, at, deliveries the relay may claim: None means no limit from the breaker)
    (CLOSED, T0, None),
    (TWO_FAILURES, T0, None),
    (OPEN, T0 + 9 * S, 0),
    (OPEN, T0 + 10 * S, 1),
    (HALF_OPEN, T0 + 14 * S, 0),  # the probe is in flight
    (HALF_OPEN, T0 + 15 * S, 1),  # the probe's lease ran out: another may go
]


@pytest.mark.parametrize(("c", "at", "expected"), ALLOWANCES)
def test_the_breaker_lets_through_all_none_or_one_probe(c: Circuit, at: datetime, expected: int | None) -> None:
    assert allowance(c, at) == expected


def test_a_probe_half_opens_the_circuit_for_one_lease() -> None:
    probe = start_probe(OPEN, T0 + 10 * S, POLICY)
    assert (probe.state, probe.probe_until, probe.opened_at) == (CircuitState.half_open, T0 + 15 * S, T0)


FLAKY, STEADY = "flaky-agency", "steady-agency"
COOLDOWN = 60.0


@pytest.fixture
def hub(any_hub: Hub, tmp_path: Path) -> Iterator[Hub]:
    """An agency that fails every delivery (retriably) and one that never fails."""
    agencies = {FLAKY: {"adapter": {"kind": "stub", "fail": "retriable"}}, STEADY: {"adapter": {"kind": "stub"}}}
    made = hub_with_agencies(
        any_hub, tmp_path / "config", agencies, circuit_failures=3, circuit_cooldown=COOLDOWN, max_attempts=50
    )
    yield made
    made.engine.dispose()


def circuit_of(hub: Hub, agency_id: str) -> Circuit:
    with hub.engine.connect() as conn:
        return circuit.load(conn).get(agency_id, Circuit(agency_id))


def due_rows(hub: Hub, agency_id: str) -> int:
    with hub.engine.connect() as conn:
        query = select(func.count()).where(outbox.c.agency_id == agency_id, outbox.c.due_at <= now())
        return int(conn.execute(query).scalar_one())


def pump_until_open(hub: Hub) -> None:
    wait_until(lambda: pump(hub) >= 0 and circuit_of(hub, FLAKY).state is CircuitState.open, "the circuit to open")


def end_cooldown(hub: Hub) -> None:
    """Time passes: the cool-down is over (the breaker's clock is the stored `opened_until`)."""
    with transaction(hub.engine) as conn:
        conn.execute(update(agency_circuits).where(agency_circuits.c.agency_id == FLAKY).values(opened_until=now()))


def test_an_agency_that_keeps_failing_is_parked_and_its_waiting_handoffs_join_the_follow_up_queue(hub: Hub) -> None:
    submit(hub, FLAKY, 4)
    submit(hub, STEADY, 2)
    with capture_logs() as logs:
        pump_until_open(hub)

    c = circuit_of(hub, FLAKY)
    assert c.consecutive_failures >= 3
    assert c.last_error == "stub told to fail for now"
    with hub.engine.connect() as conn:
        parked = followup.queue(conn, FLAKY)
        steady = conn.execute(select(handoffs.c.state).where(handoffs.c.agency_id == STEADY)).scalars().all()
    assert len(parked) == 4
    assert all(item.reason == "circuit_open" and "الجهة لا تستجيب" in item.note for item in parked)
    assert steady == ["delivered", "delivered"]
    opened = [e for e in logs if e["event"] == "agency.circuit_opened"]
    assert [(e["agency"], e["parked"]) for e in opened] == [(FLAKY, 4)]


def test_while_the_circuit_is_open_the_relay_publishes_none_of_the_agencys_due_work(hub: Hub) -> None:
    submit(hub, FLAKY, 4)
    pump_until_open(hub)
    wait_until(lambda: due_rows(hub, FLAKY) == 4, "the retry delays to pass")

    relay, published = collecting_relay(hub)
    assert relay.run_once() == 0
    assert published == []
    assert due_rows(hub, FLAKY) == 4


def test_after_the_cool_down_one_probe_goes_through_and_its_success_closes_the_circuit(hub: Hub) -> None:
    submit(hub, FLAKY, 4)
    pump_until_open(hub)
    adapter_settings = hub.directory.adapter(FLAKY).settings
    assert isinstance(adapter_settings, StubSettings)
    adapter_settings.fail = "never"  # the agency is back
    end_cooldown(hub)
    wait_until(lambda: due_rows(hub, FLAKY) == 4, "the retry delays to pass")

    relay, published = collecting_relay(hub)
    assert relay.run_once() == 1
    assert circuit_of(hub, FLAKY).state is CircuitState.half_open
    assert relay.run_once() == 0  # one probe at a time
    with capture_logs() as logs:
        dispatch.deliver(hub, published[0])

    assert circuit_of(hub, FLAKY).state is CircuitState.closed
    assert [e["agency"] for e in logs if e["event"] == "agency.circuit_closed"] == [FLAKY]
    pump(hub)
    with hub.engine.connect() as conn:
        states = conn.execute(select(handoffs.c.state).where(handoffs.c.agency_id == FLAKY)).scalars().all()
        assert followup.queue(conn, FLAKY) == []
    assert states == ["delivered"] * 4


def test_a_failed_probe_reopens_the_circuit_for_longer_and_parks_work_that_came_meanwhile(hub: Hub) -> None:
    submit(hub, FLAKY, 2)
    pump_until_open(hub)
    submit(hub, FLAKY, 1)
    end_cooldown(hub)
    wait_until(lambda: due_rows(hub, FLAKY) == 3, "the retry delays to pass")
    before = now()

    assert pump(hub, rounds=1) == 1

    c = circuit_of(hub, FLAKY)
    assert (c.state, c.reopened) == (CircuitState.open, 1)
    assert c.opened_until is not None and c.opened_until >= before + timedelta(seconds=2 * COOLDOWN)
    with hub.engine.connect() as conn:
        assert len(followup.queue(conn, FLAKY)) == 3


def test_a_refusal_proves_the_agency_reachable_and_does_not_count_against_it(hub: Hub) -> None:
    submit(hub, STEADY, 1)
    with transaction(hub.engine) as conn:
        conn.execute(
            agency_circuits.insert().values(
                agency_id=STEADY, state="closed", consecutive_failures=2, reopened=0, updated_at=now()
            )
        )
    adapter_settings = hub.directory.adapter(STEADY).settings
    assert isinstance(adapter_settings, StubSettings)
    adapter_settings.fail = "permanent"

    pump(hub)

    assert circuit_of(hub, STEADY).consecutive_failures == 0


def test_an_attachment_store_that_fails_never_counts_against_the_agency(hub: Hub) -> None:
    """H3: the store's failures are retried for the handoff, but say nothing about the agency."""
    from adapters.errors import AttachmentStoreError

    with transaction(hub.engine) as conn:
        for _ in range(10):
            circuit.record(conn, hub.settings, STEADY, AttachmentStoreError("the store answered 503"))
    assert circuit_of(hub, STEADY) == circuit.Circuit(STEADY)
