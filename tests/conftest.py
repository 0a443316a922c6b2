"""Fixtures: a fresh hub on SQLite per test, or on a PostgreSQL database made for this session."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import create_engine, text

from broker.hub import Hub, set_hub
from broker.settings import PROJECT_ROOT, Settings
from broker.store.migrate import upgrade
from broker.store.tables import metadata
from schemas import CaseIn
from tests.services import PG_ADMIN_URL, require

os.environ.setdefault("TAWASUL_TEST_ADAPTERS", "1")  # the stub adapter kind, here and in every hub process started
API_KEY = "test-national-key-0123456789-abcdefgh"
SAMPLES = PROJECT_ROOT / "config" / "samples" / "cases.jsonl"


def sample_cases() -> list[dict[str, Any]]:
    """The 90 bundled sample cases, as the national system sends them."""
    return [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]


def make_case(**overrides: Any) -> CaseIn:
    """A valid Arabic case with a fresh reference, changed by `overrides`."""
    body: dict[str, Any] = {
        "reference": f"TW-T-{uuid.uuid4().hex[:12]}",
        "kind": "complaint",
        "category": "road-maintenance",
        "agency": None,
        "subject": "حفرة خطيرة في شارع 4407",
        "description": "توجد حفرة عميقة في الشارع تسبب أضراراً للسيارات.",
        "language": "ar",
        "channel": "portal",
        "submitted_at": "2026-11-22T09:14:00+03:00",
        "citizen": {"name": "فاطمة علي", "cpr": "850412345", "mobile": "+97333123456"},
        "location": {"governorate": "northern"},
    }
    body.update(overrides)
    return CaseIn.model_validate(body)


def hub_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test hub: short leases and fast retries so recovery shows in seconds."""
    base: dict[str, Any] = {
        "database_url": database_url,
        "national_api_key": API_KEY,
        "lease_seconds": 2.0,
        "delivery_timeout": 0.9,
        "backoff_base": 0.05,
        "backoff_cap": 0.2,
        "max_attempts": 3,
        "relay_interval": 0.05,
        "log_format": "console",
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Each test starts from structlog's defaults: a CLI run in-process configures logging at its own
    level, and `capture_logs` keeps that level's filter, so a later test's info lines would vanish."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[Hub]:
    """A hub on a fresh SQLite file with the schema migrated."""
    hub = Hub(hub_settings(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path))
    upgrade(hub.engine)
    set_hub(hub)
    yield hub
    set_hub(None)
    hub.engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, migrated once, dropped at the end."""
    require("127.0.0.1", 5432, "PostgreSQL")
    name = f"hub_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_hub(pg_database: str, tmp_path: Path) -> Iterator[Hub]:
    """A hub on the session's PostgreSQL database, emptied before each test."""
    hub = Hub(hub_settings(pg_database, tmp_path))
    with hub.engine.begin() as conn:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    set_hub(hub)
    yield hub
    set_hub(None)
    hub.engine.dispose()


@pytest.fixture(params=["sqlite", "pg"])
def any_hub(request: pytest.FixtureRequest) -> Hub:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_hub")  # type: ignore[no-any-return]
