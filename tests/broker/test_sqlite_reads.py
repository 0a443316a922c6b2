"""Embedded SQLite: a read is a snapshot that never holds the write lock; writers take it up front (L4)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, select

from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.engine import transaction
from broker.store.tables import cases
from tests.conftest import make_case


def _writer(hub: Hub) -> sqlite3.Connection:
    """A second connection to the same file that gives up at once when the write lock is taken."""
    path = hub.settings.database_url.removeprefix("sqlite:///")
    return sqlite3.connect(path, timeout=0, isolation_level=None)


def test_an_open_read_does_not_block_a_writer(sqlite_hub: Hub) -> None:
    """L4: while a reader's transaction is open (a slow list or report), intake can still write."""
    submit_cases(sqlite_hub.engine, sqlite_hub.directory, [make_case()], actor="national-system")
    writer = _writer(sqlite_hub)
    with sqlite_hub.engine.connect() as reader:
        assert reader.execute(select(func.count()).select_from(cases)).scalar_one() == 1
        assert reader.in_transaction()
        writer.execute("BEGIN IMMEDIATE")  # on main: "database is locked" at once
        writer.execute("UPDATE cases SET state = state")
        writer.execute("COMMIT")
        submit_cases(sqlite_hub.engine, sqlite_hub.directory, [make_case()], actor="national-system")
        assert reader.execute(select(func.count()).select_from(cases)).scalar_one() == 1  # its snapshot
    writer.close()


def test_a_write_transaction_takes_the_write_lock_from_its_start(sqlite_hub: Hub) -> None:
    """L4: writers still begin IMMEDIATE, so two writers never deadlock upgrading a read lock."""
    writer = _writer(sqlite_hub)
    with transaction(sqlite_hub.engine) as conn:
        conn.execute(select(func.count()).select_from(cases)).scalar_one()  # nothing written yet
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            writer.execute("BEGIN IMMEDIATE")
    writer.close()
