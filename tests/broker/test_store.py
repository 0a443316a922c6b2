"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from broker.hub import Hub
from broker.store.migrate import upgrade
from broker.store.tables import metadata


def test_the_migrated_schema_matches_the_declared_tables(any_hub: Hub) -> None:
    upgrade(any_hub.engine)  # a second upgrade is a no-op
    with any_hub.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
