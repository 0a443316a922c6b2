"""Delivery outcomes that race with the agency's own messages."""

from __future__ import annotations

from typing_extensions import override

from adapters.errors import RetriableDeliveryError
from adapters.testing import StubAdapter, StubSettings
from broker import events
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.cases import get_case
from schemas import AgencyMessage, Envelope, MessageKind, Receipt
from tests.conftest import make_case
from tests.support import pump


class AcknowledgesFirst(StubAdapter):
    """An agency whose system acknowledges through the agency API before answering our push."""

    hub: Hub
    then_fail: bool = False

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        ack = AgencyMessage(kind=MessageKind.acknowledged, agency_reference="MOH-1")
        sender = Sender(actor="agency:ministry-of-health", source="agency-api", agency_id="ministry-of-health")
        record_message(self.hub.engine, self.hub.directory, envelope.handoff_id, ack, sender)
        if self.then_fail:
            raise RetriableDeliveryError("connection reset after the agency took the case")
        return Receipt(agency_reference="MOH-1")


def early_acknowledging(hub: Hub, then_fail: bool) -> None:
    agency = hub.directory.agency("ministry-of-health")
    adapter = AcknowledgesFirst(agency, StubSettings())
    adapter.hub, adapter.then_fail = hub, then_fail
    hub.directory._adapters[agency.id] = adapter


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


def test_an_error_after_the_agency_acknowledged_is_not_retried(any_hub: Hub) -> None:
    early_acknowledging(any_hub, then_fail=True)
    [accepted] = submit_cases(any_hub.engine, any_hub.directory, [make_case(category="hospital-services")], actor="ns")
    pump(any_hub)
    with any_hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0]
    assert (handoff.state, handoff.attempts) == ("acknowledged", 1)
    assert pump(any_hub) == 0
