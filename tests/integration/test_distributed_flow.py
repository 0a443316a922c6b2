"""A case's whole path on PostgreSQL + RabbitMQ, delivered by a real worker process."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker import events, followup
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.cases import get_case
from schemas import AgencyMessage, MessageKind
from tests.conftest import make_case
from tests.integration.conftest import MakeHub
from tests.integration.procs import JOINING, HubProcess, start
from tests.support import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def test_a_case_for_a_joining_agency_reaches_the_follow_up_queue_through_a_worker_and_its_answer_flows_back(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path
) -> None:
    hub = rabbit_hub()
    start(procs, hub, tmp_path, "worker")
    start(procs, hub, tmp_path, "scheduler")
    case = make_case(category="manual-desk")
    [accepted] = submit_cases(hub.engine, hub.directory, [case], actor="national-system")

    def queued() -> list[followup.QueueItem]:
        with hub.engine.connect() as conn:
            return followup.queue(conn)

    wait_until(queued, "the worker to put the handoff on the follow-up queue", timeout=60)
    [item] = queued()
    assert item.agency == JOINING
    assert item.subject == case.subject

    answer = "تمت معالجة الطلب وإبلاغ المواطن بالنتيجة."
    recorded = record_message(
        hub.engine,
        hub.directory,
        item.handoff,
        AgencyMessage(kind=MessageKind.answered, text=answer, agency_reference="JA-1"),
        Sender(actor="central-office:amina", source="manual"),
    )
    assert recorded.handoff_state == "answered"
    with hub.engine.connect() as conn:
        read = get_case(conn, accepted.case_id)
        trail = events.for_case(conn, accepted.case_id)
        assert queued() == []
    assert read.state == "answered"
    assert [e.type for e in trail] == [
        "case.received",
        "case.routed",
        "handoff.delivered",
        "message.answered",
        "case.answered",
    ]
    assert trail[3].data["text"] == answer
