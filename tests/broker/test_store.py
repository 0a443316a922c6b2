"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from broker.hub import Hub
from broker.store import engine as store_engine
from broker.store.migrate import upgrade
from broker.store.tables import metadata
from tests.conftest import PG_ADMIN_URL


def test_the_migrated_schema_matches_the_declared_tables(any_hub: Hub) -> None:
    upgrade(any_hub.engine)  # a second upgrade is a no-op
    with any_hub.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_use(
    pg_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections are pinged only after sitting idle; a dead one is swapped for a new one unseen."""
    engine = pg_hub.engine
    engine.dispose()
    with engine.connect() as conn:
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with engine.connect() as conn:  # used a moment ago: no ping, the same connection
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
    with create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    monkeypatch.setattr(store_engine, "PING_AFTER_IDLE", 0.0)  # as if it had sat idle
    with engine.connect() as conn:
        again = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert again != first
