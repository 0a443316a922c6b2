"""A worker killed with SIGKILL in the middle of a delivery: the work is picked up again, once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.testing import read_records
from broker import events
from broker.intake import submit_cases
from broker.store.cases import get_case
from broker.store.tables import agency_messages
from tests.conftest import make_case
from tests.integration.conftest import MakeHub
from tests.integration.procs import HubProcess, start
from tests.support import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def test_a_delivery_cut_short_by_sigkill_is_delivered_by_another_worker_with_one_effect(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path, record_file: Path
) -> None:
    hub = rabbit_hub(delay_seconds=1.5, lease_seconds=2.5)
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
