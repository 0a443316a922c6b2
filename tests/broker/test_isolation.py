"""One slow or dead agency never delays the others: per-agency limits on claims, and head-of-line."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kombu.transport import memory
from sqlalchemy import func, select
from typing_extensions import override

from adapters import registry
from adapters.base import Adapter
from adapters.testing import StubSettings
from broker import circuit, dispatch, isolation
from broker.circuit import Circuit, CircuitState
from broker.hub import Hub
from broker.intake import submit_cases
from broker.relay import Relay
from broker.runner import start_scheduler_thread, start_worker_thread
from broker.store.engine import now
from broker.store.tables import follow_ons as follow_ons_table
from broker.store.tables import handoffs
from schemas import Envelope, Receipt
from tests.broker.agency_setup import hub_with_agencies, submit
from tests.support import wait_until

SLOW, BUSY, QUIET = "slow-agency", "busy-agency", "quiet-agency"


def in_flight(hub: Hub) -> dict[str, int]:
    with hub.engine.connect() as conn:
        return isolation.in_flight(conn, now())


def delivered(hub: Hub, agency_id: str) -> int:
    with hub.engine.connect() as conn:
        query = select(func.count()).where(handoffs.c.agency_id == agency_id, handoffs.c.state == "delivered")
        return int(conn.execute(query).scalar_one())


@pytest.fixture
def hub(any_hub: Hub, tmp_path: Path) -> Iterator[Hub]:
    """A slow agency limited to 2 deliveries in flight and a busy one on the hub's default of 3."""
    agencies = {SLOW: {"adapter": {"kind": "stub"}, "max_in_flight": 2}, BUSY: {"adapter": {"kind": "stub"}}}
    made = hub_with_agencies(any_hub, tmp_path / "config", agencies, agency_max_in_flight=3, lease_seconds=30.0)
    yield made
    made.engine.dispose()


def collecting_relay(hub: Hub) -> tuple[Relay, list[list[tuple[str, str]]]]:
    """A relay whose broker messages are kept, as if no worker had taken them yet."""
    published: list[list[tuple[str, str]]] = []
    return Relay(hub, lambda _topic, claims: published.append(claims)), published


def test_the_relay_never_has_more_than_an_agencys_limit_in_flight(hub: Hub) -> None:
    submit(hub, SLOW, 10)
    submit(hub, BUSY, 10)
    relay, published = collecting_relay(hub)

    assert relay.run_once() == 5
    assert in_flight(hub) == {SLOW: 2, BUSY: 3}
    assert relay.run_once() == 0
    assert all(len(message) <= 3 for message in published)

    slow_message = next(m for m in published if len(m) == 2)
    dispatch.deliver(hub, slow_message[:1])  # one slow delivery is done: room for exactly one more
    assert relay.run_once() == 1
    assert in_flight(hub) == {SLOW: 2, BUSY: 3}


def test_manual_agencies_share_broker_messages_while_each_connected_agency_has_its_own(
    any_hub: Hub, tmp_path: Path
) -> None:
    """Manual delivery waits on nobody, so it needs no message of its own: fewer, fuller worker tasks."""
    agencies = {
        "phoned-1": {},
        "phoned-2": {},
        SLOW: {"adapter": {"kind": "stub"}},
        BUSY: {"adapter": {"kind": "stub"}},
    }
    hub = hub_with_agencies(any_hub, tmp_path / "config", agencies, agency_max_in_flight=3)
    for agency_id in agencies:
        submit(hub, agency_id, 2)
    relay, published = collecting_relay(hub)
    assert relay.run_once() == 8
    agency_of = {}
    with hub.engine.connect() as conn:
        agency_of = dict(conn.execute(select(handoffs.c.id, handoffs.c.agency_id)).all())
    messages = sorted(sorted(agency_of[ref] for ref, _token in message) for message in published)
    assert messages == [[BUSY, BUSY], ["phoned-1", "phoned-1", "phoned-2", "phoned-2"], [SLOW, SLOW]]
    for message in published:
        dispatch.deliver(hub, message)
    assert delivered(hub, "phoned-1") == delivered(hub, "phoned-2") == 2
    hub.engine.dispose()


def test_work_waiting_for_a_retry_is_not_in_flight(hub: Hub) -> None:
    adapter_settings = hub.directory.adapter(SLOW).settings
    assert isinstance(adapter_settings, StubSettings)
    adapter_settings.fail = "retriable"
    submit(hub, SLOW, 2)
    relay, published = collecting_relay(hub)
    relay.run_once()

    dispatch.deliver(hub, published[0])

    assert in_flight(hub) == {}


def test_relays_claiming_at_the_same_moment_share_each_agencys_limit(pg_hub: Hub, tmp_path: Path) -> None:
    agencies = {SLOW: {"adapter": {"kind": "stub"}, "max_in_flight": 2}, BUSY: {"adapter": {"kind": "stub"}}}
    hub = hub_with_agencies(pg_hub, tmp_path / "config", agencies, agency_max_in_flight=3, lease_seconds=30.0)
    submit(hub, SLOW, 20)
    submit(hub, BUSY, 20)
    start = threading.Barrier(6)

    def claim() -> None:
        relay, _ = collecting_relay(hub)
        start.wait()
        for _ in range(3):
            relay.run_once()

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert in_flight(hub) == {SLOW: 2, BUSY: 3}
    hub.engine.dispose()


class HangingAdapter(Adapter):
    """An agency that never answers until the test lets it go (a socket with no read timeout)."""

    kind = "hanging"
    release = threading.Event()
    entered = 0
    lock = threading.Lock()

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        with HangingAdapter.lock:
            HangingAdapter.entered += 1
        HangingAdapter.release.wait()
        return Receipt(agency_reference="LATE")


def test_an_agency_hanging_on_every_request_does_not_hold_up_deliveries_to_the_others(
    sqlite_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.BUILTIN, "hanging", f"{__name__}:HangingAdapter")
    monkeypatch.setattr(memory.Transport, "polling_interval", 0.01)  # the embedded broker polls once a second
    monkeypatch.setattr(HangingAdapter, "release", threading.Event())
    monkeypatch.setattr(HangingAdapter, "entered", 0)
    agencies = {
        SLOW: {"adapter": {"kind": "hanging"}, "max_in_flight": 1},
        BUSY: {"adapter": {"kind": "stub"}},
        QUIET: {"adapter": {"kind": "stub"}},
    }
    # one handoff per message and three threads: without a limit the hanging agency's first
    # three messages would take every thread and nothing else would move
    hub = hub_with_agencies(
        sqlite_hub,
        tmp_path / "config",
        agencies,
        worker_concurrency=3,
        task_batch=1,
        lease_seconds=60.0,
        broker_url="memory://",
        queue_prefix=f"hol-{tmp_path.name}",
    )
    submit(hub, SLOW, 6)
    submit(hub, BUSY, 15)
    submit(hub, QUIET, 15)
    worker = start_worker_thread(hub)
    stop = start_scheduler_thread(hub)
    try:
        wait_until(lambda: delivered(hub, BUSY) + delivered(hub, QUIET) == 30, "the other agencies' deliveries")
        assert delivered(hub, SLOW) == 0
        assert HangingAdapter.entered == 1
        assert in_flight(hub) == {SLOW: 1}
    finally:
        stop.set()
        HangingAdapter.release.set()
        worker.stop(in_sighandler=False)
        hub.engine.dispose()


def test_an_agency_ignoring_its_timeouts_holds_at_most_its_limit_of_threads_until_its_circuit_opens(
    sqlite_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.BUILTIN, "hanging", f"{__name__}:HangingAdapter")
    monkeypatch.setattr(memory.Transport, "polling_interval", 0.01)
    monkeypatch.setattr(HangingAdapter, "release", threading.Event())
    monkeypatch.setattr(HangingAdapter, "entered", 0)
    agencies = {SLOW: {"adapter": {"kind": "hanging"}, "max_in_flight": 1}, BUSY: {"adapter": {"kind": "stub"}}}
    hub = hub_with_agencies(
        sqlite_hub,
        tmp_path / "config",
        agencies,
        worker_concurrency=2,
        task_batch=1,
        delivery_timeout=0.1,
        circuit_failures=3,
        circuit_cooldown=60.0,
        max_attempts=50,
        lease_seconds=60.0,
        broker_url="memory://",
        queue_prefix=f"ignoring-{tmp_path.name}",
    )
    submit(hub, SLOW, 4)
    submit(hub, BUSY, 10)
    worker = start_worker_thread(hub)
    stop = start_scheduler_thread(hub)
    try:
        wait_until(lambda: circuit_of(hub, SLOW).state is CircuitState.open, "the hanging agency's circuit to open")
        wait_until(lambda: delivered(hub, BUSY) == 10, "the other agency's deliveries")
        assert delivered(hub, SLOW) == 0
        assert HangingAdapter.entered == 1  # later attempts found its one slot taken and gave up
        assert in_flight(hub) == {}
    finally:
        stop.set()
        HangingAdapter.release.set()
        worker.stop(in_sighandler=False)
        hub.engine.dispose()


def circuit_of(hub: Hub, agency_id: str) -> Circuit:
    with hub.engine.connect() as conn:
        return circuit.load(conn).get(agency_id, Circuit(agency_id))


def test_an_agency_whose_reminder_endpoint_drips_never_holds_up_the_others(
    sqlite_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H2: reminders go through the outbox like deliveries: bounded, limited per agency, off the scheduler's loop."""
    from adapters.testing.rest_agency import running_simulator
    from broker.sweep import sweep
    from tests.conftest import make_case
    from tests.rest_agencies import deliver, handoff, hub_on_simulator

    monkeypatch.setattr(memory.Transport, "polling_interval", 0.01)
    with running_simulator() as sim:
        base = hub_on_simulator(sqlite_hub, sim, tmp_path, monkeypatch)
        hub = Hub(
            base.settings.model_copy(
                update={
                    "broker_url": "memory://",
                    "queue_prefix": f"drip-{tmp_path.name}",
                    "worker_concurrency": 3,
                    "task_batch": 1,
                    "lease_seconds": 60.0,
                    "delivery_timeout": 20.0,
                }
            )
        )
        late = [deliver(hub, make_case(category="housing-applications")) for _ in range(4)]
        sim[1].set_mode("ministry-of-housing", "drip", delay=1.0, hang_seconds=60)  # one byte a second
        sweep(hub, at=max(handoff(hub, case_id=h["case_id"])["warn_at"] for h in late))  # four reminders queued
        worker = start_worker_thread(hub)
        stop = start_scheduler_thread(hub)
        try:
            others = [make_case(category="labour-disputes") for _ in range(5)]
            others += [make_case(category="social-insurance-pensions") for _ in range(10)]
            submit_cases(hub.engine, hub.directory, others, actor="national-system")
            wait_until(
                lambda: delivered(hub, "ministry-of-labour") + delivered(hub, "social-insurance-organisation") == 15,
                "the other agencies' deliveries while the reminders drip",
            )
            assert len(sim[1].follow_ons("ministry-of-housing")) <= 2  # its own limit of calls at once, no more
            with hub.engine.connect() as conn:
                states = conn.execute(select(follow_ons_table.c.kind, follow_ons_table.c.state)).all()
            assert [tuple(s) for s in states] == [("reminder", "pending")] * 4  # still trying, none sent twice
        finally:
            stop.set()
            worker.stop(in_sighandler=False)
            hub.engine.dispose()


def test_an_agencys_calls_run_on_kept_threads_never_more_than_its_limit(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls one after another reuse one thread; calls at once use at most the agency's limit of threads."""
    monkeypatch.setattr(isolation, "_calls", {})  # no threads kept from earlier tests
    one_by_one = {isolation.bounded(hub, SLOW, threading.current_thread) for _ in range(5)}
    assert len(one_by_one) == 1
    assert threading.current_thread() not in one_by_one

    inside, release = threading.Barrier(3), threading.Event()  # SLOW's limit is 2: two calls and this test

    def held() -> threading.Thread:
        inside.wait(timeout=5)
        release.wait(timeout=5)
        return threading.current_thread()

    with ThreadPoolExecutor(2) as callers:
        running = [callers.submit(isolation.bounded, hub, SLOW, held) for _ in range(2)]
        inside.wait(timeout=5)
        release.set()
        at_once = {f.result(timeout=5) for f in running}
    assert len(at_once) == 2
    assert one_by_one <= at_once  # the kept thread took one of them; one more was started
    assert {isolation.bounded(hub, SLOW, threading.current_thread) for _ in range(5)} <= at_once
