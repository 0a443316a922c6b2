"""Delivery outcomes that race with the agency's own messages."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update
from typing_extensions import override

from adapters.errors import PermanentDeliveryError, RetriableDeliveryError
from adapters.testing import StubAdapter, StubSettings
from broker import dispatch, events
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.cases import get_case
from broker.store.engine import now, transaction
from broker.store.handoffs import Handoff
from broker.store.tables import handoffs
from broker.store.tables import outbox as outbox_table
from schemas import AgencyMessage, Envelope, MessageKind, Receipt
from tests.broker.agency_setup import hub_with_agencies, submit
from tests.conftest import make_case
from tests.support import collecting_relay, pump, relaying


class AcknowledgesFirst(StubAdapter):
    """An agency whose system acknowledges through the agency API before answering our push."""

    hub: Hub
    then_fail: bool = False
    answers: bool = False
    """And answers too, still before answering our push (a fast system, or an automatic reply)."""

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        ack = AgencyMessage(kind=MessageKind.acknowledged, agency_reference="MOH-1")
        sender = Sender(actor="agency:ministry-of-health", source="agency-api", agency_id="ministry-of-health")
        record_message(self.hub.engine, self.hub.directory, envelope.handoff_id, ack, sender)
        if self.answers:
            answer = AgencyMessage(kind=MessageKind.answered, text="تمت المعالجة. Done.", agency_reference="MOH-1")
            record_message(self.hub.engine, self.hub.directory, envelope.handoff_id, answer, sender)
        if self.then_fail:
            raise RetriableDeliveryError("connection reset after the agency took the case")
        return Receipt(agency_reference="MOH-1")


def early_acknowledging(hub: Hub, then_fail: bool, answers: bool = False) -> None:
    agency = hub.directory.agency("ministry-of-health")
    adapter = AcknowledgesFirst(agency, StubSettings())
    adapter.hub, adapter.then_fail, adapter.answers = hub, then_fail, answers
    hub.directory._adapters[agency.id] = adapter


def delivery_work(hub: Hub, handoff_id: str) -> int:
    """The outbox rows still holding this handoff's delivery (claimed or due)."""
    with hub.engine.connect() as conn:
        return len(conn.execute(select(outbox_table.c.ref).where(outbox_table.c.ref == handoff_id)).all())


def test_an_acknowledgement_sent_during_the_push_keeps_its_state_and_the_delivery_is_recorded(any_hub: Hub) -> None:
    early_acknowledging(any_hub, then_fail=False)
    [accepted] = submit_cases(any_hub.engine, any_hub.directory, [make_case(category="hospital-services")], actor="ns")
    pump(any_hub)
    with any_hub.engine.connect() as conn:
        read = get_case(conn, accepted.case_id)
        types = [e.type for e in events.for_case(conn, accepted.case_id)]
    assert (read.state, read.handoffs[0].state, read.handoffs[0].agency_reference) == (
        "with_agency",
        "acknowledged",
        "MOH-1",
    )
    assert types.count("handoff.delivered") == 1 and "message.acknowledged" in types
    assert pump(any_hub) == 0  # the outbox row is gone: nothing is delivered again
    assert delivery_work(any_hub, read.handoffs[0].id) == 0


def test_an_error_after_the_agency_acknowledged_is_not_retried(any_hub: Hub) -> None:
    early_acknowledging(any_hub, then_fail=True)
    [accepted] = submit_cases(any_hub.engine, any_hub.directory, [make_case(category="hospital-services")], actor="ns")
    pump(any_hub)
    with any_hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0]
    assert (handoff.state, handoff.attempts) == ("acknowledged", 1)
    assert pump(any_hub) == 0
    assert delivery_work(any_hub, handoff.id) == 0


def test_an_answer_sent_during_the_push_ends_the_delivery_work_at_once(any_hub: Hub) -> None:
    """The claim is released as the push settles, not when its lease runs out.

    A held claim counts against the agency's deliveries in flight (`max_in_flight`): two such
    claims had stopped every delivery to the agency for the lease (120 s), found by
    bench/throughput.py --rest.
    """
    early_acknowledging(any_hub, then_fail=False, answers=True)
    [accepted] = submit_cases(any_hub.engine, any_hub.directory, [make_case(category="hospital-services")], actor="ns")
    pump(any_hub)
    with any_hub.engine.connect() as conn:
        read = get_case(conn, accepted.case_id)
        types = [e.type for e in events.for_case(conn, accepted.case_id)]
    assert (read.state, read.handoffs[0].state, read.handoffs[0].agency_reference) == ("answered", "answered", "MOH-1")
    assert types.count("handoff.delivered") == 1 and types.count("message.answered") == 1
    assert delivery_work(any_hub, read.handoffs[0].id) == 0


def test_an_error_after_the_agency_answered_ends_the_delivery_work(any_hub: Hub) -> None:
    early_acknowledging(any_hub, then_fail=True, answers=True)
    [accepted] = submit_cases(any_hub.engine, any_hub.directory, [make_case(category="hospital-services")], actor="ns")
    pump(any_hub)
    with any_hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0]
    assert (handoff.state, handoff.attempts) == ("answered", 1)
    assert delivery_work(any_hub, handoff.id) == 0


def test_a_long_batch_keeps_its_claims_and_nothing_is_published_twice(sqlite_hub: Hub, tmp_path: Path) -> None:
    """M1: the claim is renewed between the deliveries of one message, so the relay never hands them out again."""
    agencies = {"slow": {"adapter": {"kind": "stub", "delay_seconds": 0.7}, "max_in_flight": 4}}
    hub = hub_with_agencies(sqlite_hub, tmp_path / "config", agencies, task_batch=4, lease_seconds=2.0)
    submit(hub, "slow", 4)
    relay, published = collecting_relay(hub)
    assert relay.run_once() == 4
    [message] = published
    watcher, again = collecting_relay(hub)
    with relaying(watcher):
        dispatch.deliver(hub, message)  # 4 × 0.7 s: longer than one lease
    assert again == []  # nothing expired meanwhile: no second worker was ever sent the same work
    adapter = hub.directory.adapter("slow")
    assert isinstance(adapter, StubAdapter)
    assert len(adapter.deliveries) == 4


def test_a_late_success_wins_over_a_failure_decided_meanwhile_and_a_late_failure_is_never_written(
    any_hub: Hub,
) -> None:
    """M1: outcomes are fenced by the claim token; a receipt is the truth about the agency, whenever it comes."""
    case_id, first, second = claimed_twice(any_hub)
    second.outcome = PermanentDeliveryError("refused by the agency")
    dispatch._settle(any_hub, [second])
    assert handoff_of(any_hub, case_id).state == "failed"
    first.outcome = Receipt(agency_reference="MOH-7")
    dispatch._settle(any_hub, [first])  # A's success arrives late: it wins
    h = handoff_of(any_hub, case_id)
    assert (h.state, h.agency_reference, h.followup_reason) == ("delivered", "MOH-7", "manual")
    stale = dispatch._Job(first.h, first.envelope, first.taken, uncertain=False, outcome=PermanentDeliveryError("x"))
    dispatch._settle(any_hub, [stale])  # a stale failure changes nothing
    assert handoff_of(any_hub, case_id).state == "delivered"


def test_a_late_receipt_for_a_handoff_that_moved_on_leaves_the_current_claim_alone(any_hub: Hub) -> None:
    """A receipt removes its delivery work only while its claim holds it; the holder's stays until it settles."""
    case_id, first, second = claimed_twice(any_hub)
    sender = Sender(actor="agency:ministry-of-health", source="agency-api", agency_id="ministry-of-health")
    for kind in (MessageKind.acknowledged, MessageKind.rejected):  # it took the case, then refused it
        message = AgencyMessage(kind=kind, text="ليس من اختصاصنا. Not ours.")
        record_message(any_hub.engine, any_hub.directory, first.h.id, message, sender)
    first.outcome = Receipt(agency_reference="MOH-8")
    dispatch._settle(any_hub, [first])  # A's receipt comes after the agency refused the case: not written
    h = handoff_of(any_hub, case_id)
    assert (h.state, h.followup_reason, delivery_work(any_hub, h.id)) == ("failed", "rejected", 1)  # B's claim stays
    second.outcome = Receipt(agency_reference="MOH-8")
    dispatch._settle(any_hub, [second])  # B's, as late: it ends the delivery work it holds
    h = handoff_of(any_hub, case_id)
    assert (h.state, h.followup_reason, delivery_work(any_hub, h.id)) == ("failed", "rejected", 0)


def test_a_copy_of_a_message_takes_nothing_once_its_claim_was_taken(any_hub: Hub) -> None:
    """A message the broker delivers twice, or one whose work the relay published again after the lease
    ran out: only the current claim's message starts a delivery (no agency gets the case twice at once)."""
    submit_cases(any_hub.engine, any_hub.directory, [make_case(category="hospital-services")], actor="ns")
    relay, published = collecting_relay(any_hub)
    relay.run_once()
    [first] = dispatch._claim(any_hub, published[0])
    assert dispatch._claim(any_hub, published[0]) == []  # a copy of the message worker A took
    expire_leases(any_hub)
    relay.run_once()
    [second] = dispatch._claim(any_hub, published[1])
    assert dispatch._claim(any_hub, published[0] + published[1]) == []  # both messages again, as one
    assert (second.h.id, second.taken.attempt) == (first.h.id, first.taken.attempt + 1)


def claimed_twice(hub: Hub) -> tuple[str, dispatch._Job, dispatch._Job]:
    """A case's delivery claimed by worker A, whose lease then runs out, and claimed again by worker B."""
    [accepted] = submit_cases(hub.engine, hub.directory, [make_case(category="hospital-services")], actor="ns")
    relay, published = collecting_relay(hub)
    relay.run_once()
    [first] = dispatch._claim(hub, published[0])  # worker A starts, and is slow
    expire_leases(hub)
    relay.run_once()
    [second] = dispatch._claim(hub, published[1])  # worker B takes the work again
    return accepted.case_id, first, second


def expire_leases(hub: Hub) -> None:
    with transaction(hub.engine) as conn:
        conn.execute(update(outbox_table).values(due_at=now()))


def handoff_of(hub: Hub, case_id: str) -> Handoff:
    with hub.engine.connect() as conn:
        return Handoff.from_row(conn.execute(select(handoffs).where(handoffs.c.case_id == case_id)).one())
