"""Fixtures for the hub on PostgreSQL + RabbitMQ, with workers as real processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from broker import tasks
from broker.hub import Hub, set_hub
from broker.outbox import DELIVER, FOLLOW_ON, WEBHOOK
from tests.integration.procs import HubProcess, delete_queues, hub_processes, write_config
from tests.services import RABBIT_URL, require

MakeHub = Callable[..., Hub]


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    """Where the stub agency writes a line when a delivery starts and when it is done."""
    return tmp_path / "stub-deliveries.jsonl"


@pytest.fixture
def rabbit_hub(pg_hub: Hub, tmp_path: Path, record_file: Path) -> Iterator[MakeHub]:
    """Builds the test's hub on the (emptied) PostgreSQL database and RabbitMQ, under its own queues.

    Call it with the stub agency's `delay_seconds` and any settings to change; the queues are
    deleted at the end.
    """
    require("127.0.0.1", 5672, "RabbitMQ")
    prefix = f"hubtest-{uuid.uuid4().hex[:10]}"
    made: list[Hub] = []

    def make(delay_seconds: float = 0.0, idempotent: bool = False, **settings: object) -> Hub:
        config_dir = write_config(tmp_path / "config", record_file, delay_seconds, idempotent)
        update = {
            "broker_url": RABBIT_URL,
            "queue_prefix": prefix,
            "config_dir": config_dir,
            "lease_seconds": 4.0,
            "delivery_timeout": 1.9,
            "worker_concurrency": 2,
            **settings,
        }
        hub = Hub(pg_hub.settings.model_copy(update=update))
        tasks.configure(hub.settings)
        set_hub(hub)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.engine.dispose()
    set_hub(None)
    delete_queues(RABBIT_URL, [f"{prefix}.{topic}" for topic in (DELIVER, FOLLOW_ON, WEBHOOK)])


@pytest.fixture
def procs() -> Iterator[list[HubProcess]]:
    """The `tawasul-hub` processes a test starts; all are stopped when it ends."""
    with hub_processes() as started:
        yield started
