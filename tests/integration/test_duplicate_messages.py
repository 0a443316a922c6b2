"""Messages duplicated at the broker have one effect: the claim token makes every copy but one stale."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from adapters.testing import read_records
from broker import events, outbox, tasks
from broker.intake import submit_cases
from broker.outbox import DELIVER
from broker.store.cases import get_case
from broker.store.engine import transaction
from tests.conftest import make_case
from tests.integration.conftest import MakeHub
from tests.integration.procs import HubProcess, start
from tests.support import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def test_the_same_claim_published_three_times_delivers_the_handoff_once(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path, record_file: Path
) -> None:
    # One worker thread with a prefetch of one takes messages strictly in order, so once the
    # last message's handoff is delivered, every copy before it has been consumed.
    hub = rabbit_hub(worker_concurrency=1, lease_seconds=30.0)
    cases = [make_case(category="stubbed") for _ in range(2)]
    accepted = submit_cases(hub.engine, hub.directory, cases, actor="national-system")
    with transaction(hub.engine) as conn:
        token = {w.ref: w.token for w in outbox.claim_due(conn, 10, hub.settings.lease_seconds, skip_locked=True)}
    with hub.engine.connect() as conn:
        first, last = (get_case(conn, a.case_id).handoffs[0].id for a in accepted)

    tasks.publish(DELIVER, [(first, token[first])])
    tasks.publish(DELIVER, [(first, token[first])])
    tasks.publish(DELIVER, [(first, token[first]), (last, token[last])])
    start(procs, hub, tmp_path, "worker")

    def delivered(case_id: str) -> bool:
        with hub.engine.connect() as conn:
            return get_case(conn, case_id).handoffs[0].state == "delivered"

    wait_until(lambda: delivered(accepted[1].case_id), "the last message's handoff to be delivered", timeout=60)

    records = read_records(record_file)
    assert Counter((r["handoff"], r["event"]) for r in records) == {
        (first, "start"): 1,
        (first, "done"): 1,
        (last, "start"): 1,
        (last, "done"): 1,
    }
    with hub.engine.connect() as conn:
        for a in accepted:
            assert delivered(a.case_id)
            trail = Counter(e.type for e in events.for_case(conn, a.case_id))
            assert trail == {"case.received": 1, "case.routed": 1, "handoff.delivered": 1}
