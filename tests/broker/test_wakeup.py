"""The relay's waiter: new outbox work wakes it on PostgreSQL; elsewhere it simply sleeps."""

from __future__ import annotations

import threading

from broker import outbox
from broker.hub import Hub
from broker.store.engine import transaction
from broker.wakeup import Waiter
from tests.support import wait_until


def test_work_committed_on_postgresql_wakes_a_waiting_relay_long_before_its_poll(pg_hub: Hub) -> None:
    stop = threading.Event()
    waiter = Waiter(pg_hub.engine, stop)
    waiter.wait(0.01)  # connects and listens
    woken = threading.Event()
    thread = threading.Thread(target=lambda: (waiter.wait(600), woken.set()), daemon=True)
    thread.start()
    with transaction(pg_hub.engine) as conn:
        outbox.enqueue(conn, [("deliver", "h_wakeup", "some-agency")])
    wait_until(woken.is_set, "the committed work to wake the waiter", timeout=30)
    waiter.close()


def test_on_sqlite_the_waiter_sleeps_until_stopped(sqlite_hub: Hub) -> None:
    stop = threading.Event()
    waiter = Waiter(sqlite_hub.engine, stop)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (waiter.wait(600), done.set()), daemon=True)
    thread.start()
    stop.set()
    wait_until(done.is_set, "stop to end the wait", timeout=30)
