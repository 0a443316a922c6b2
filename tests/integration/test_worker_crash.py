"""A worker killed with SIGKILL in the middle of a delivery: the work is picked up again, once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.testing import read_records
from broker import events, followup
from broker.intake import submit_cases
from broker.store.cases import get_case
from broker.store.tables import agency_messages
from tests.conftest import make_case
from tests.integration.conftest import MakeHub
from tests.integration.procs import HubProcess, start
from tests.support import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def test_a_delivery_cut_short_by_sigkill_is_sent_again_to_an_agency_that_recognises_its_key(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path, record_file: Path
) -> None:
    """The agency recognises a repeated Idempotency-Key: the next worker sends it again, once."""
    hub = rabbit_hub(delay_seconds=1.5, idempotent=True)
    doomed = start(procs, hub, tmp_path, "worker")
    start(procs, hub, tmp_path, "scheduler")
    [accepted] = submit_cases(hub.engine, hub.directory, [make_case(category="stubbed")], actor="national-system")

    wait_until(lambda: read_records(record_file), "the first delivery to start", timeout=60)
    doomed.kill()
    assert [r["event"] for r in read_records(record_file)] == ["start"]
    start(procs, hub, tmp_path, "worker")

    def delivered() -> bool:
        with hub.engine.connect() as conn:
            return get_case(conn, accepted.case_id).handoffs[0].state == "delivered"

    wait_until(delivered, "the handoff to be delivered by the new worker", timeout=60)

    with hub.engine.connect() as conn:
        case = get_case(conn, accepted.case_id)
        trail = events.for_case(conn, accepted.case_id)
        messages = conn.execute(select(func.count()).select_from(agency_messages)).scalar_one()
    [handoff] = case.handoffs
    records = read_records(record_file)
    assert [r["event"] for r in records] == ["start", "start", "done"]
    assert {r["key"] for r in records} == {handoff.id}
    assert [r["attempt"] for r in records] == [1, 2, 2]
    assert Counter(e.type for e in trail) == {"case.received": 1, "case.routed": 1, "handoff.delivered": 1}
    assert messages == 0
    assert case.state == "with_agency"


def test_a_delivery_cut_short_by_sigkill_waits_for_an_officer_when_the_agency_cannot_be_asked(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path, record_file: Path
) -> None:
    """No lookup, no idempotency: the handoff is "outcome unknown" on the follow-up queue, not sent blindly."""
    hub = rabbit_hub(delay_seconds=1.5)
    doomed = start(procs, hub, tmp_path, "worker")
    start(procs, hub, tmp_path, "scheduler")
    [accepted] = submit_cases(hub.engine, hub.directory, [make_case(category="stubbed")], actor="national-system")
    wait_until(lambda: read_records(record_file), "the first delivery to start", timeout=60)
    doomed.kill()
    start(procs, hub, tmp_path, "worker")

    def doubted() -> bool:
        with hub.engine.connect() as conn:
            return get_case(conn, accepted.case_id).handoffs[0].state == "outcome_unknown"

    wait_until(doubted, "the handoff to wait for an officer", timeout=60)
    with hub.engine.connect() as conn:
        [item] = followup.queue(conn)
        trail = [e.type for e in events.for_case(conn, accepted.case_id)]
    assert item.reason == "outcome_unknown" and "may already have this case" in item.note
    assert [r["event"] for r in read_records(record_file)] == ["start"]  # never sent a second time
    assert trail.count("handoff.outcome_unknown") == 1 and "handoff.delivered" not in trail
