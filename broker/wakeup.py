"""Waking the relay as soon as new outbox work commits, instead of at its next poll.

On PostgreSQL, `outbox.enqueue` sends a NOTIFY in the writer's transaction (delivered only if it
commits) and the scheduler LISTENs between passes, so a case's handoff is relayed within
milliseconds of its intake. The poll every `relay_interval` stays as the safety net: a lost
notification (listener reconnecting) only delays work, it never loses it. SQLite has no
notifications and simply polls.
"""

from __future__ import annotations

import threading

import psycopg
import structlog
from sqlalchemy import Connection, Engine, text

log = structlog.get_logger(__name__)

CHANNEL = "hub_outbox"
"""The notification channel (notifications are per database, so one name serves every hub)."""

GATHER_SECONDS = 0.01
"""After a wake-up, wait this long for more commits, so one pass relays them all in one batch.

It bounds passes to about a hundred a second under load, which keeps the relay's and the
workers' cost per case down, at the price of a few milliseconds of latency."""


def announce(conn: Connection) -> None:
    """Tell listening relays, once this transaction commits, that work is due."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {CHANNEL}"))


class Waiter:
    """Waits up to a timeout for new work, woken early by a notification on PostgreSQL."""

    def __init__(self, engine: Engine, stop: threading.Event) -> None:
        self.stop = stop
        self.listens = engine.dialect.name == "postgresql"
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn: psycopg.Connection[tuple[object, ...]] | None = None

    def wait(self, timeout: float) -> None:
        """Return after `timeout` seconds, when work is announced, or when stop is set (soon after)."""
        if not self.listens:
            self.stop.wait(timeout)
            return
        try:
            if self.conn is None:
                self.conn = psycopg.connect(self.conninfo, autocommit=True)
                self.conn.execute(f"LISTEN {CHANNEL}")
            woken = any(True for _ in self.conn.notifies(timeout=timeout, stop_after=1))
            if woken:  # several commits since the last pass need only one pass: gather the rest
                for _ in self.conn.notifies(timeout=GATHER_SECONDS):
                    pass
        except psycopg.Error as exc:
            log.warning("relay.listen_failed", error=str(exc))
            self.close()
            self.stop.wait(timeout)

    def close(self) -> None:
        """Drop the listening connection (it is opened again on the next wait)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
