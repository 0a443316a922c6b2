"""The relay's waiter: new outbox work wakes it on PostgreSQL; elsewhere it simply sleeps."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, event, func, select, text

from broker import outbox, wakeup
from broker.hub import Hub
from broker.store.engine import transaction
from broker.store.tables import outbox as outbox_table
from broker.wakeup import Waiter
from tests.support import wait_until


def test_work_committed_on_postgresql_wakes_a_waiting_relay_long_before_its_poll(pg_hub: Hub) -> None:
    woken_by_a_commit(pg_hub, "h_wakeup")  # the waiter waits up to 600 s: only the notification wakes it


def test_on_sqlite_the_waiter_sleeps_until_stopped(sqlite_hub: Hub) -> None:
    stop = threading.Event()
    waiter = Waiter(sqlite_hub.engine, stop)
    done = threading.Event()
    waiting_then_setting(waiter, done).start()
    stop.set()
    wait_until(done.is_set, "stop to end the wait", timeout=30)


def test_work_is_announced_only_after_its_transaction_commits(pg_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The NOTIFY follows the commit (never inside it), and a rolled-back transaction announces nothing."""
    seen_at_announce: list[int] = []

    def after_commit(engine: Engine) -> None:
        with engine.connect() as conn:  # another connection: only committed rows are visible
            seen_at_announce.append(conn.execute(select(func.count()).select_from(outbox_table)).scalar_one())

    monkeypatch.setattr(wakeup, "after_commit", after_commit)
    with pytest.raises(RuntimeError), transaction(pg_hub.engine) as conn:
        outbox.enqueue(conn, [("deliver", "h_rolled_back", "some-agency")])
        raise RuntimeError("rolled back")
    with transaction(pg_hub.engine) as conn:
        conn.execute(select(1))  # no outbox work: nothing to announce
    assert seen_at_announce == []
    with transaction(pg_hub.engine) as conn:
        outbox.enqueue(conn, [("deliver", "h_committed", "some-agency")])
    assert seen_at_announce == [1]


def test_a_burst_of_commits_wakes_a_waiting_relay(pg_hub: Hub) -> None:
    """Commits landing while a NOTIFY is under way share the next one, and the relay still wakes."""
    stop = threading.Event()
    waiter = Waiter(pg_hub.engine, stop)
    waiter.wait(0.01)  # connects and listens
    for n in range(20):
        with transaction(pg_hub.engine) as conn:
            outbox.enqueue(conn, [("deliver", f"h_many_{n}", "some-agency")])
    woken = threading.Event()
    waiting_then_setting(waiter, woken).start()
    wait_until(woken.is_set, "the last commit's notification", timeout=30)
    waiter.close()


def woken_by_a_commit(hub: Hub, ref: str) -> None:
    """Commit outbox work and wait until a listening relay is woken by it."""
    stop = threading.Event()
    waiter = Waiter(hub.engine, stop)
    waiter.wait(0.01)  # connects and listens
    woken = threading.Event()
    waiting_then_setting(waiter, woken).start()
    with transaction(hub.engine) as conn:
        outbox.enqueue(conn, [("deliver", ref, "some-agency")])
    wait_until(woken.is_set, "the committed work to wake the waiter", timeout=30)
    waiter.close()


def test_announcing_takes_no_connection_from_the_pool(pg_hub: Hub) -> None:
    """The pool serves the process's own work; a NOTIFY borrowing from it sent a request to open a session."""
    checkouts: list[int] = []
    event.listen(pg_hub.engine, "checkout", lambda *_: checkouts.append(1))
    woken_by_a_commit(pg_hub, "h_pool")
    assert len(checkouts) == 1  # the committing transaction's own


def test_an_announcing_connection_that_dropped_is_opened_again(pg_hub: Hub) -> None:
    woken_by_a_commit(pg_hub, "h_before")
    announcer = wakeup._ANNOUNCERS[pg_hub.engine]
    assert announcer.conn is not None
    with pg_hub.engine.connect() as conn:  # the database ends the announcer's session (a restart, a proxy)
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": announcer.conn.info.backend_pid})
    with transaction(pg_hub.engine) as conn:
        outbox.enqueue(conn, [("deliver", "h_lost", "some-agency")])  # this one's NOTIFY fails: the poll finds it
    wait_until(lambda: announcer.conn is None, "the failed NOTIFY to drop the connection", timeout=30)
    woken_by_a_commit(pg_hub, "h_after")


def waiting_then_setting(waiter: Waiter, done: threading.Event) -> threading.Thread:
    """A thread (not started) that waits on `waiter` for up to 600 s, then sets `done`."""

    def run() -> None:
        waiter.wait(600)
        done.set()

    return threading.Thread(target=run, daemon=True)
