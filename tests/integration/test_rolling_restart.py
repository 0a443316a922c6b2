"""Every process restarted one at a time under load, as the README's upgrade does: nothing lost, nothing doubled."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from adapters.testing import read_records
from broker.store.tables import cases, events, handoffs, outbox
from tests.conftest import API_KEY, make_case
from tests.integration.conftest import MakeHub
from tests.integration.procs import HubProcess
from tests.support import free_port, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

ENV = {"HUB_AGENCY_MAX_IN_FLIGHT": "40", "HUB_LOG_LEVEL": "WARNING"}


def ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


class Load:
    """The national system: submits cases to whichever API answers, retrying a case until it is accepted."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.accepted: dict[str, str] = {}
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        turn = 0
        while not self.stop.is_set():
            body = make_case(category="stubbed").model_dump(mode="json")
            while True:  # the same reference until an API accepts it: intake is idempotent on it
                turn += 1
                port = self.ports[turn % len(self.ports)]
                try:
                    r = requests.post(
                        f"http://127.0.0.1:{port}/v1/cases", json=body, headers={"X-API-Key": API_KEY}, timeout=10
                    )
                except requests.ConnectionError:
                    self.refused += 1
                    continue
                assert r.status_code in (200, 201), r.text
                self.accepted[body["reference"]] = r.json()["id"]
                break
            time.sleep(0.03)


def test_restarting_every_process_one_at_a_time_under_load_loses_and_doubles_nothing(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path, record_file: Path
) -> None:
    hub = rabbit_hub(lease_seconds=15.0)
    n = 0

    def launch(command: list[str], port: int) -> HubProcess:
        nonlocal n
        n += 1
        extra = {} if command[0] == "api" else {"HUB_METRICS_PORT": str(port)}
        p = HubProcess(hub, command, tmp_path / f"{command[0]}-{n}.log", **ENV, **extra)
        procs.append(p)
        return p

    api_ports = [free_port(), free_port()]
    running: dict[str, tuple[HubProcess, int]] = {}
    for i, port in enumerate(api_ports):
        running[f"api-{i}"] = (launch(["api", "--port", str(port)], port), port)
    for name in ("worker-0", "worker-1", "scheduler-0"):
        port = free_port()
        running[name] = (launch([name.split("-")[0]], port), port)
    for name, (_, port) in running.items():
        wait_until(lambda p=port: ready(p), f"{name} to be ready", timeout=60)

    load = Load(api_ports)
    load.thread.start()
    wait_until(lambda: len(load.accepted) >= 20, "the first cases to be accepted")
    for name, (old, old_port) in list(running.items()):
        if name.startswith("api"):  # the same port: the other API takes the load meanwhile
            old.stop()
            port = old_port
            new = launch(["api", "--port", str(port)], port)
        else:  # the new one first, then the old one leaves after finishing what it holds
            port = free_port()
            new = launch([name.split("-")[0]], port)
            wait_until(lambda p=port: ready(p), f"the new {name} to be ready", timeout=60)
            old.stop()
        wait_until(lambda p=port: ready(p), f"the new {name} to be ready", timeout=60)
        running[name] = (new, port)
        assert old.proc.returncode is not None
    load.stop.set()
    load.thread.join(30)

    accepted = set(load.accepted.values())

    def settled() -> bool:
        with hub.engine.connect() as conn:
            waiting = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
            open_ = conn.execute(
                select(func.count()).select_from(handoffs).where(handoffs.c.state != "delivered")
            ).scalar_one()
        return waiting == 0 and open_ == 0

    wait_until(settled, "every accepted case to be delivered", timeout=60)
    with hub.engine.connect() as conn:
        stored = set(conn.execute(select(cases.c.id)).scalars())
        handoff_ids = set(conn.execute(select(handoffs.c.id)).scalars())
        delivered_events = Counter(
            conn.execute(select(events.c.handoff_id).where(events.c.type == "handoff.delivered")).scalars()
        )
    records = read_records(record_file)
    started = Counter(r["handoff"] for r in records if r["event"] == "start")
    done = Counter(r["handoff"] for r in records if r["event"] == "done")

    assert len(accepted) >= 100
    assert stored == accepted  # nothing lost at intake, nothing made twice
    assert len(handoff_ids) == len(accepted)
    assert set(done) == handoff_ids and set(done.values()) == {1}  # each delivered exactly once
    assert set(started.values()) == {1}  # and never even started twice
    assert set(delivered_events) == handoff_ids and set(delivered_events.values()) == {1}
