"""Engine and transactions; SQLite gets WAL and a busy timeout so threads share it safely."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc

from broker.settings import Settings


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _ReadingConnection(Connection):
    """A connection that knows when it began by itself (a read) rather than by `begin()` (a write).

    With SQLAlchemy 2 a connection that executes outside `begin()` autobegins, and nothing it
    writes survives without `commit()`, which the hub never calls: so an autobegun transaction
    only reads.
    """

    reading = False

    def _autobegin(self) -> None:
        self.reading = True
        try:
            super()._autobegin()
        finally:
            self.reading = False


def make_engine(settings: Settings) -> Engine:
    """Build the engine for the configured URL (the one place that knows SQLite from PostgreSQL)."""
    if settings.is_sqlite:
        path = settings.database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            settings.database_url,
            json_serializer=_dumps,
            hide_parameters=True,  # statements' parameters (citizens' data) never reach an error or a log
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below take charge

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # writers (engine.begin(), transaction()) take the write lock up front, so two never
            # deadlock upgrading; a read (engine.connect()'s autobegin) is a plain WAL snapshot that
            # never blocks a writer (L4)
            conn.exec_driver_sql("BEGIN" if getattr(conn, "reading", False) else "BEGIN IMMEDIATE")

        engine._connection_cls = _ReadingConnection  # the one hook that tells autobegin apart
        return engine
    engine = create_engine(
        settings.database_url,
        json_serializer=_dumps,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=20,  # beyond the pool, a connection is opened for one use and closed: rare by design
    )
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE = 1.0
"""A pooled connection idle longer than this (seconds) is pinged before use."""


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle (SQLAlchemy's pre-ping pings every time).

    A connection that was just used is alive: under load this saves a round trip per transaction.
    One that waited (a database restart, a firewall's idle timeout) is pinged, and a dead one is
    replaced before anyone sees it. A restart in the middle of a burst fails the transactions on
    connections already open once; SQLAlchemy then drops the whole pool, and the hub's callers
    retry (the outbox re-publishes, the national system re-posts by reference).
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return  # new, or used a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception:
            alive = False
        if not alive:
            raise exc.DisconnectionError("connection lost while idle in the pool")  # the pool reconnects


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction: committed on success, rolled back on any error.

    Outbox work it wrote is announced to the relay once it has committed (broker.wakeup).
    """
    from broker import wakeup

    announced = False
    with engine.begin() as conn:
        conn.info.pop(wakeup.PENDING, None)
        try:
            yield conn
        finally:
            announced = conn.info.pop(wakeup.PENDING, False)
    if announced:
        wakeup.after_commit(engine)


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read statement: on PostgreSQL with no transaction around it.

    A transaction costs one SELECT two more statements (BEGIN and ROLLBACK), each a round trip
    PostgreSQL parses and runs; SQLite's transactions are local and keep their snapshot rules.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def now() -> datetime:
    """The current instant in UTC (one place to freeze in tests)."""
    return datetime.now(UTC)
