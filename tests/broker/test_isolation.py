"""One slow or dead agency never delays the others: per-agency limits on claims, and head-of-line."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import pytest
from kombu.transport import memory
from sqlalchemy import Engine, func, select, update
from typing_extensions import override

from adapters import registry
from adapters.base import Adapter
from adapters.errors import RetriableDeliveryError
from adapters.testing import StubAdapter, StubSettings
from broker import circuit, dispatch, follow_ons, isolation, outbox
from broker.circuit import Circuit, CircuitState
from broker.hub import Hub
from broker.intake import submit_cases
from broker.isolation import InFlight
from broker.relay import Relay
from broker.runner import start_scheduler_thread, start_worker_thread
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff
from broker.store.tables import follow_ons as follow_ons_table
from broker.store.tables import handoffs
from broker.store.tables import outbox as outbox_table
from schemas import Envelope, FollowOnEnvelope, FollowOnKind, Receipt
from tests.broker.agency_setup import hub_with_agencies, submit
from tests.conftest import make_case
from tests.support import collecting_relay, relaying, wait_until

SLOW, BUSY, QUIET = "slow-agency", "busy-agency", "quiet-agency"


def in_flight(hub: Hub) -> dict[str, InFlight]:
    with hub.engine.connect() as conn:
        return isolation.in_flight(conn, now())


def agency_of(hub: Hub, message: list[tuple[str, str]]) -> str:
    """The one agency whose handoffs a broker message carries."""
    with hub.engine.connect() as conn:
        found = conn.execute(select(handoffs.c.agency_id).where(handoffs.c.id.in_([ref for ref, _ in message])))
        (agency_id,) = set(found.scalars())
    return str(agency_id)


def delivered(hub: Hub, agency_id: str) -> int:
    with hub.engine.connect() as conn:
        query = select(func.count()).where(handoffs.c.agency_id == agency_id, handoffs.c.state == "delivered")
        return int(conn.execute(query).scalar_one())


@pytest.fixture
def hub(any_hub: Hub, tmp_path: Path) -> Iterator[Hub]:
    """A slow agency limited to 2 messages in flight and a busy one on the hub's default of 3; 4 handoffs a message."""
    agencies = {SLOW: {"adapter": {"kind": "stub"}, "max_in_flight": 2}, BUSY: {"adapter": {"kind": "stub"}}}
    made = hub_with_agencies(
        any_hub, tmp_path / "config", agencies, agency_max_in_flight=3, task_batch=4, lease_seconds=30.0
    )
    yield made
    made.engine.dispose()


def test_a_pass_gives_each_agency_one_message_and_never_more_than_its_limit_in_flight(hub: Hub) -> None:
    submit(hub, SLOW, 10)
    submit(hub, BUSY, 14)
    relay, published = collecting_relay(hub)

    assert [relay.run_once() for _ in range(4)] == [8, 8, 4, 0]
    assert in_flight(hub) == {SLOW: InFlight(messages=2, handoffs=8), BUSY: InFlight(messages=3, handoffs=12)}
    assert [len(message) for message in published] == [4] * 5

    slow_message = next(m for m in published if agency_of(hub, m) == SLOW)
    dispatch.deliver(hub, slow_message)  # one slow message is done: room for exactly one more
    assert relay.run_once() == 2
    assert in_flight(hub) == {SLOW: InFlight(messages=2, handoffs=6), BUSY: InFlight(messages=3, handoffs=12)}


def test_a_message_partly_delivered_still_counts_as_one_in_flight(hub: Hub) -> None:
    submit(hub, SLOW, 8)
    relay, published = collecting_relay(hub)
    assert [relay.run_once() for _ in range(3)] == [4, 4, 0]

    dispatch.deliver(hub, published[0][:1])  # its worker took one handoff of four: the rest stay its own

    assert in_flight(hub) == {SLOW: InFlight(messages=2, handoffs=7)}
    assert relay.run_once() == 0


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
    hub = hub_with_agencies(
        pg_hub, tmp_path / "config", agencies, agency_max_in_flight=3, task_batch=4, lease_seconds=30.0
    )
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

    assert in_flight(hub) == {SLOW: InFlight(messages=2, handoffs=8), BUSY: InFlight(messages=3, handoffs=12)}
    hub.engine.dispose()


def test_a_pass_says_whether_it_published_work_for_a_connected_agency(any_hub: Hub, tmp_path: Path) -> None:
    """The scheduler lingers longer after one that did (HUB_RELAY_AGENCY_LINGER), so the next message fills."""
    hub = hub_with_agencies(any_hub, tmp_path / "config", {"phoned": {}, BUSY: {"adapter": {"kind": "stub"}}})
    relay, _published = collecting_relay(hub)
    submit(hub, "phoned", 2)
    assert (relay.run_once(), relay.connected) == (2, False)
    submit(hub, BUSY, 1)
    assert (relay.run_once(), relay.connected) == (1, True)
    assert (relay.run_once(), relay.connected) == (0, False)
    hub.engine.dispose()


def handoff_rows(hub: Hub, agency_id: str) -> list[tuple[str, int, bool, bool]]:
    """Each of the agency's handoffs as (state, attempts, uncertain, its outbox work due now and unclaimed)."""
    query = (
        select(handoffs.c.state, handoffs.c.attempts, handoffs.c.uncertain, outbox_table.c.due_at, outbox_table.c.token)
        .outerjoin(outbox_table, outbox_table.c.ref == handoffs.c.id)
        .where(handoffs.c.agency_id == agency_id)
    )
    at = now()
    with hub.engine.connect() as conn:
        rows = conn.execute(query).all()
    return sorted(
        (r.state, r.attempts, r.uncertain, r.due_at is not None and r.due_at <= at and r.token is None) for r in rows
    )


@pytest.mark.parametrize(
    ("adapter", "expected"),
    [
        pytest.param(
            {"fail": "retriable"},
            [("pending", 0, False, True)] * 2 + [("pending", 1, False, False)],
            id="down",
        ),
        pytest.param(
            {"delay_seconds": 0.5, "idempotent": True},  # answers after the hub stopped waiting (0.1 s)
            [("pending", 0, False, True)] * 2 + [("pending", 1, True, False)],
            id="no-answer",
        ),
        pytest.param(
            {"fail": "permanent"},  # refuses each case on its own: the next may be fine
            [("failed", 1, False, False)] * 3,
            id="refused",
        ),
    ],
)
def test_a_message_stops_at_the_first_handoff_its_agency_does_not_take_and_gives_the_rest_back(
    any_hub: Hub, tmp_path: Path, adapter: dict[str, object], expected: list[tuple[str, int, bool, bool]]
) -> None:
    """A hanging agency costs a message one delivery timeout, not one per handoff; no attempt is spent on the rest."""
    agencies = {SLOW: {"adapter": {"kind": "stub", **adapter}}}
    hub = hub_with_agencies(any_hub, tmp_path / "config", agencies, delivery_timeout=0.1, circuit_failures=10)
    submit(hub, SLOW, 3)
    relay, published = collecting_relay(hub)
    assert relay.run_once() == 3

    dispatch.deliver(hub, published[0])

    assert handoff_rows(hub, SLOW) == expected
    assert circuit_of(hub, SLOW).consecutive_failures == (1 if expected[0][1] == 0 else 0)
    assert in_flight(hub) == {}
    given_back = sum(1 for row in expected if row[3])
    assert relay.run_once() == given_back  # due again at once: the next pass offers them
    hub.engine.dispose()


class WithdrawnMeanwhile(StubAdapter):
    """Down; while the hub waits on its first call, the central office withdraws the message's other handoffs."""

    kind = "withdrawn-meanwhile"
    engine: ClassVar[Engine | None] = None

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        assert WithdrawnMeanwhile.engine is not None
        with transaction(WithdrawnMeanwhile.engine) as conn:
            others = (handoffs.c.id != envelope.handoff_id) & (handoffs.c.state == "delivering")
            conn.execute(update(handoffs).where(others).values(state="cancelled"))
        raise RetriableDeliveryError("down for now")


def test_handoffs_someone_acted_on_meanwhile_are_not_given_back_over_what_they_did(
    any_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.BUILTIN, WithdrawnMeanwhile.kind, f"{__name__}:WithdrawnMeanwhile")
    agencies = {SLOW: {"adapter": {"kind": WithdrawnMeanwhile.kind}}}
    hub = hub_with_agencies(any_hub, tmp_path / "config", agencies, circuit_failures=10)
    monkeypatch.setattr(WithdrawnMeanwhile, "engine", hub.engine)
    submit(hub, SLOW, 3)
    relay, published = collecting_relay(hub)
    relay.run_once()

    dispatch.deliver(hub, published.pop())

    assert [row[0] for row in handoff_rows(hub, SLOW)] == ["cancelled", "cancelled", "pending"]
    assert relay.run_once() == 2  # their work is due again, and its next claim finds nothing to deliver
    dispatch.deliver(hub, published.pop())
    assert in_flight(hub) == {}
    hub.engine.dispose()


def test_work_given_back_is_only_the_messages_own(any_hub: Hub) -> None:
    """A claim gone stale (taken by a worker meanwhile, so its token changed) is someone else's: left as it is."""
    submit_cases(any_hub.engine, any_hub.directory, [make_case() for _ in range(2)], actor="national-system")
    relay, published = collecting_relay(any_hub)
    relay.run_once()
    (claims,) = published
    with transaction(any_hub.engine) as conn:
        taken = outbox.take_many(conn, outbox.DELIVER, claims, 30.0)
        stale = outbox.give_back(conn, outbox.DELIVER, dict(claims))  # the relay's tokens, no longer current
        mine = {ref: t.token for ref, t in taken.items()}
        given = outbox.give_back(conn, outbox.DELIVER, mine)
        rows = conn.execute(select(outbox_table.c.token, outbox_table.c.attempts)).all()
    assert (stale, given) == (set(), set(mine))
    assert sorted(map(tuple, rows)) == [(None, 0), (None, 0)]  # unclaimed, and no attempt counted


def delivered_with_follow_ons(hub: Hub, count: int) -> tuple[Relay, list[list[tuple[str, str]]]]:
    """`count` handoffs to SLOW delivered, a follow-on queued on each (the case withdrawn); a collecting relay."""
    submit(hub, SLOW, count)
    relay, published = collecting_relay(hub)
    relay.run_once()
    dispatch.deliver(hub, published.pop())
    with transaction(hub.engine) as conn:
        for row in conn.execute(select(handoffs)).all():
            h, cancelled = Handoff.from_row(row), FollowOnKind.cancelled
            follow_ons.create(conn, hub.directory, h, cancelled, text_ar="سُحبت الحالة", text_en="withdrawn", actor="co")
    return relay, published


class FollowOnsDown(StubAdapter):
    """Takes deliveries, but its endpoint for follow-on messages is down."""

    kind = "follow-ons-down"
    calls = 0

    @override
    def follow_on(self, envelope: FollowOnEnvelope) -> Receipt:
        FollowOnsDown.calls += 1
        raise RetriableDeliveryError("follow-ons down for now")


def test_a_message_of_follow_ons_stops_at_the_first_its_agency_does_not_take(
    any_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.BUILTIN, FollowOnsDown.kind, f"{__name__}:FollowOnsDown")
    monkeypatch.setattr(FollowOnsDown, "calls", 0)
    agencies = {SLOW: {"adapter": {"kind": FollowOnsDown.kind}}}
    hub = hub_with_agencies(any_hub, tmp_path / "config", agencies, circuit_failures=10)
    relay, published = delivered_with_follow_ons(hub, 3)
    assert relay.run_once() == 3

    follow_ons.send(hub, published.pop())

    assert FollowOnsDown.calls == 1
    with hub.engine.connect() as conn:
        tried = conn.execute(select(follow_ons_table.c.state, follow_ons_table.c.attempts)).all()
    assert sorted(map(tuple, tried)) == [("pending", 0), ("pending", 0), ("pending", 1)]
    assert relay.run_once() == 2  # the two given back are due at once; the one tried waits for its retry


class SlowFollowOns(StubAdapter):
    """Takes each follow-on message, 0.7 s after it was sent."""

    kind = "slow-follow-ons"

    @override
    def follow_on(self, envelope: FollowOnEnvelope) -> Receipt:
        time.sleep(0.7)
        return super().follow_on(envelope)


def test_a_long_message_of_follow_ons_keeps_its_claims_and_nothing_is_published_twice(
    any_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As deliveries (M1): the claims are renewed between the calls of one message, so the relay never
    hands them out again while the worker is still on its way to them."""
    monkeypatch.setitem(registry.BUILTIN, SlowFollowOns.kind, f"{__name__}:SlowFollowOns")
    agencies = {SLOW: {"adapter": {"kind": SlowFollowOns.kind}, "max_in_flight": 4}}
    hub = hub_with_agencies(any_hub, tmp_path / "config", agencies, task_batch=4, lease_seconds=2.0)
    relay, published = delivered_with_follow_ons(hub, 4)
    assert relay.run_once() == 4
    watcher, again = collecting_relay(hub)
    with relaying(watcher):
        follow_ons.send(hub, published.pop())  # 4 × 0.7 s: longer than one lease
    assert again == []
    with hub.engine.connect() as conn:
        states = conn.execute(select(follow_ons_table.c.state, follow_ons_table.c.attempts)).all()
    assert [tuple(row) for row in states] == [("sent", 1)] * 4
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
        assert in_flight(hub) == {SLOW: InFlight(messages=1, handoffs=1)}
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
