"""Operating real processes on PostgreSQL + RabbitMQ: Celery's tools, probes, health checks and metrics."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.cases import get_case
from tests.broker.api.test_operations import samples, value
from tests.conftest import API_KEY, make_case
from tests.integration.conftest import MakeHub
from tests.integration.procs import HUB_COMMAND, STUB, HubProcess, hub_env, start
from tests.support import free_port, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

CELERY = HUB_COMMAND.with_name("celery")


def answers(url: str, status: int = 200) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == status
    except requests.RequestException:
        return False


def celery(hub: Hub, *args: str) -> dict[str, object]:
    """`celery -A broker.celery_app inspect …` as an operator runs it; its JSON answer by node."""
    done = subprocess.run(
        [str(CELERY), "-A", "broker.celery_app", "inspect", *args, "--json", "--timeout", "5"],
        env=hub_env(hub),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_celery_inspect_sees_the_hub_worker_and_its_queues_and_no_other_hub(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path
) -> None:
    hub = rabbit_hub()
    port = free_port()
    worker = start(procs, hub, tmp_path, "worker", HUB_METRICS_PORT=str(port))
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/readyz"), "the worker to be ready", timeout=60)
    node = f"{hub.settings.queue_prefix}-{worker.proc.pid}@{socket.gethostname()}"

    assert celery(hub, "ping") == {node: {"ok": "pong"}}
    queues = celery(hub, "active_queues")[node]
    prefix = hub.settings.queue_prefix
    assert sorted(q["name"] for q in queues) == [f"{prefix}.deliver", f"{prefix}.follow_on", f"{prefix}.webhook"]  # type: ignore[attr-defined]


def test_a_worker_answers_probes_and_counts_its_deliveries_and_the_health_command_reads_them(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path
) -> None:
    hub = rabbit_hub()
    worker_port, scheduler_port = free_port(), free_port()
    start(procs, hub, tmp_path, "worker", HUB_METRICS_PORT=str(worker_port), HUB_METRICS_TOKEN="t0ken")
    start(procs, hub, tmp_path, "scheduler", HUB_METRICS_PORT=str(scheduler_port))
    for port in (worker_port, scheduler_port):
        wait_until(lambda p=port: answers(f"http://127.0.0.1:{p}/readyz"), f"the process on {port} to be ready", 60)
    [accepted] = submit_cases(hub.engine, hub.directory, [make_case(category="stubbed")], actor="national-system")

    def delivered() -> bool:
        with hub.engine.connect() as conn:
            return get_case(conn, accepted.case_id).handoffs[0].state == "delivered"

    wait_until(delivered, "the worker to deliver", timeout=60)

    base = f"http://127.0.0.1:{worker_port}"
    ready = requests.get(f"{base}/readyz", timeout=10).json()
    assert {name: c["ok"] for name, c in ready["checks"].items()} == {
        "loop": True,
        "database": True,
        "migrations": True,
        "broker": True,
    }
    assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
    page = requests.get(f"{base}/metrics", headers={"Authorization": "Bearer t0ken"}, timeout=10).text
    assert value(page, "hub_deliveries_total", agency=STUB, adapter="stub", outcome="delivered") == 1
    assert value(page, "hub_delivery_attempts_total", agency=STUB, adapter="stub", result="ok") == 1
    assert "hub_store_up" not in page  # the store's gauges are the API's to serve

    def health(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HUB_COMMAND), "health", *args],
            env=hub_env(hub),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert health("--port", str(scheduler_port)).returncode == 0
    assert health("--port", str(worker_port), "--live").returncode == 0
    refused = health("--port", str(free_port()))
    assert refused.returncode == 1 and "no answer" in refused.stderr


def test_api_processes_add_up_their_metrics_in_a_directory_cleaned_at_start_up(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path
) -> None:
    hub = rabbit_hub()
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"left by a previous run")
    port = free_port()
    api = HubProcess(
        hub, ["api", "--port", str(port), "--workers", "2"], tmp_path / "api.log", PROMETHEUS_MULTIPROC_DIR=str(shared)
    )
    procs.append(api)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{base}/readyz"), "the API processes to be ready", timeout=60)
    assert not (shared / "counter_1.db").exists()
    for _ in range(8):
        body = make_case(category="stubbed").model_dump(mode="json")
        r = requests.post(
            f"{base}/v1/cases", json=body, headers={"X-API-Key": API_KEY, "Connection": "close"}, timeout=10
        )
        assert r.status_code == 201, r.text

    pages = [requests.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=10).text for _ in range(4)]

    route = {"method": "POST", "route": "/v1/cases", "status": "201"}
    assert [value(p, "hub_http_request_seconds_count", **route) for p in pages] == [8.0] * 4
    assert [value(p, "hub_cases_received_total", kind="complaint", channel="portal") for p in pages] == [8.0] * 4
    assert all(value(p, "hub_store_up") == 1 for p in pages)
    assert not any(name.startswith("python_gc") for name, _ in samples(pages[0]))  # read from the shared files
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None


def test_flower_shows_the_hub_worker_and_the_queues_it_consumes(
    rabbit_hub: MakeHub, procs: list[HubProcess], tmp_path: Path
) -> None:
    hub = rabbit_hub()
    port, flower_port = free_port(), free_port()
    worker = start(procs, hub, tmp_path, "worker", HUB_METRICS_PORT=str(port))
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/readyz"), "the worker to be ready", timeout=60)
    with (tmp_path / "flower.log").open("ab") as log:
        flower = subprocess.Popen(
            [str(CELERY), "-A", "broker.celery_app", "flower", f"--port={flower_port}", "--address=127.0.0.1"],
            env={**hub_env(hub), "FLOWER_UNAUTHENTICATED_API": "true"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        node = f"{hub.settings.queue_prefix}-{worker.proc.pid}@{socket.gethostname()}"
        url = f"http://127.0.0.1:{flower_port}/api/workers?refresh=1"

        def seen() -> dict[str, object] | None:
            try:
                workers = requests.get(url, timeout=15).json()
            except (requests.RequestException, ValueError):
                return None
            return workers.get(node)  # type: ignore[no-any-return]

        wait_until(seen, "Flower to see the worker", timeout=60)
        info = seen()
        assert info is not None
        prefix = hub.settings.queue_prefix
        assert sorted(q["name"] for q in info["active_queues"]) == [
            f"{prefix}.deliver",
            f"{prefix}.follow_on",
            f"{prefix}.webhook",
        ]  # type: ignore[index]
    finally:
        flower.terminate()
        flower.wait(15)
