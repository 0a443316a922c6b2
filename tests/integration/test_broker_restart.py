"""RabbitMQ restarted while cases arrive: intake keeps answering and every accepted case is delivered."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from broker.store.tables import handoffs
from tests.conftest import API_KEY, make_case
from tests.integration.conftest import MakeHub
from tests.integration.procs import HubProcess, start
from tests.services import reachable
from tests.support import live_api, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl on the local node (the test restarts the broker's application, not its host)."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbitmq_stopped() -> Iterator[None]:
    """RabbitMQ's application stopped for the block; it is started again whatever happens."""
    if shutil.which("rabbitmqctl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("rabbitmqctl is not on PATH (CI must be able to restart RabbitMQ)")
        pytest.skip("rabbitmqctl is not on PATH")
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        wait_until(lambda: reachable("127.0.0.1", 5672), "RabbitMQ to listen again", timeout=60)


def submit(base: str, category: str = "stubbed") -> str:
    """POST one case; returns its id (the intake answers 201 as soon as the case is committed)."""
    body = make_case(category=category).model_dump(mode="json")
    r = requests.post(f"{base}/v1/cases", json=body, headers={"X-API-Key": API_KEY}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_cases_accepted_while_rabbitmq_restarts_all_reach_a_delivered_handoff(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path
) -> None:
    hub = rabbit_hub()
    start(procs, hub, tmp_path, "worker")
    start(procs, hub, tmp_path, "scheduler")
    accepted: list[str] = []
    with live_api(hub) as base:
        accepted += [submit(base) for _ in range(5)]
        with rabbitmq_stopped():
            wait_until(lambda: not reachable("127.0.0.1", 5672), "RabbitMQ to stop listening", timeout=30)
            accepted += [submit(base) for _ in range(10)]
        accepted += [submit(base) for _ in range(5)]

    def undelivered() -> int:
        with hub.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(handoffs)
                    .where(handoffs.c.case_id.in_(accepted), handoffs.c.state != "delivered")
                ).scalar_one()
            )

    wait_until(lambda: undelivered() == 0, "every accepted case's handoff to be delivered", timeout=120)
    with hub.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(handoffs)).scalar_one()
    assert total == len(accepted) == 20
