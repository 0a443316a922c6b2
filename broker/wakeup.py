"""Waking the relay as soon as new outbox work commits, instead of at its next poll.

On PostgreSQL, `outbox.enqueue` marks its transaction, and once that transaction has committed
(`store.engine.transaction`) a NOTIFY is sent; the scheduler LISTENs between passes, so a case's
handoff is relayed within milliseconds of its intake. The poll every `relay_interval` stays as the
safety net: a lost notification (listener reconnecting, a process dying between its commit and
the NOTIFY) only delays work, it never loses it. SQLite has no notifications and simply polls.

The NOTIFY is not sent inside the writer's transaction: PostgreSQL serialises the commits of
notifying transactions on one lock held through the commit's WAL flush, which made every intake
wait for the one before it. Sent after the commit by one thread per process, in a transaction of
its own that writes nothing, it holds that lock for microseconds, and commits that land while one
NOTIFY is under way share the next one.
"""

from __future__ import annotations

import threading
import weakref

import psycopg
import structlog
from sqlalchemy import Connection, Engine

log = structlog.get_logger(__name__)

CHANNEL = "hub_outbox"
"""The notification channel (notifications are per database, so one name serves every hub)."""

GATHER_SECONDS = 0.01
"""After a wake-up, wait this long for more commits, so one pass relays them all in one batch.

It bounds passes to about a hundred a second under load, which keeps the relay's and the
workers' cost per case down, at the price of a few milliseconds of latency."""


PENDING = "hub_announce"
"""Key in a connection's `info`: its transaction wrote outbox work, to announce after the commit."""


def announce(conn: Connection) -> None:
    """Tell listening relays, once this transaction commits, that work is due."""
    if conn.dialect.name == "postgresql":
        conn.info[PENDING] = True


def after_commit(engine: Engine) -> None:
    """Announce committed work: a NOTIFY soon, from this process's announcer (never blocks the caller)."""
    with _LOCK:
        announcer = _ANNOUNCERS.get(engine)
        if announcer is None:
            announcer = _ANNOUNCERS[engine] = Announcer(engine)
    announcer.poke()


class Announcer:
    """Sends NOTIFY after commits, on a thread of its own; commits during one NOTIFY share the next.

    A poke after a commit sets a flag; the thread clears it and then notifies, so every commit
    that poked before the clear is covered by the NOTIFY that follows. The thread ends after a
    few idle seconds and starts again on the next poke.

    It notifies on a connection of its own, not one of the pool's: the pool is sized to the
    process's own workers (an API process runs `db_pool_size` requests at once), and a NOTIFY
    taking one of its connections sent the next request to open and close a session of its own
    (12 in a 600-case benchmark run).
    """

    IDLE_SECONDS = 5.0

    def __init__(self, engine: Engine) -> None:
        self.engine = weakref.ref(engine)  # the registry's value must not keep its key alive
        self.conninfo = conninfo(engine)
        self.conn: psycopg.Connection[tuple[object, ...]] | None = None
        self.wanted = threading.Event()
        self.lock = threading.Lock()
        self.running = False

    def poke(self) -> None:
        """A commit wrote work: make sure a NOTIFY follows it."""
        self.wanted.set()
        with self.lock:
            if not self.running:
                self.running = True
                threading.Thread(target=self._run, name="hub-announcer", daemon=True).start()

    def _run(self) -> None:
        while True:
            if not self.wanted.wait(self.IDLE_SECONDS):
                with self.lock:
                    if not self.wanted.is_set():
                        self.running = False
                        self._close()
                        return
            self.wanted.clear()
            if self.engine() is None:
                self._close()
                return
            try:
                if self.conn is None:
                    self.conn = psycopg.connect(self.conninfo, autocommit=True)
                self.conn.execute(f"NOTIFY {CHANNEL}")
            except Exception as exc:  # the relay's poll picks the work up anyway
                log.warning("relay.announce_failed", error=str(exc))
                self._close()
                self.wanted.wait(1.0)

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def conninfo(engine: Engine) -> str:
    """The engine's database as a libpq connection string, for a connection outside its pool."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


_ANNOUNCERS: weakref.WeakKeyDictionary[Engine, Announcer] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class Waiter:
    """Waits up to a timeout for new work, woken early by a notification on PostgreSQL."""

    def __init__(self, engine: Engine, stop: threading.Event) -> None:
        self.stop = stop
        self.listens = engine.dialect.name == "postgresql"
        self.conninfo = conninfo(engine)
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
