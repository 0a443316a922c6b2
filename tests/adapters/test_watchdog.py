"""The one thread that bounds every HTTP call in time: alarms fire once, in order, unless cancelled."""

from __future__ import annotations

import threading

from adapters.watchdog import Watchdog


def test_an_alarm_fires_once_its_time_has_come() -> None:
    fired = threading.Event()
    Watchdog().arm(0.05, fired.set)
    assert fired.wait(5)


def test_a_cancelled_alarm_never_fires() -> None:
    dog = Watchdog()
    fired: list[str] = []
    dog.arm(0.05, lambda: fired.append("cancelled")).cancel()
    later = threading.Event()
    dog.arm(0.2, later.set)
    assert later.wait(5)
    assert fired == []


def test_an_alarm_armed_later_but_due_sooner_fires_first() -> None:
    dog = Watchdog()
    order: list[str] = []
    both = threading.Event()
    dog.arm(0.5, lambda: (order.append("late"), both.set()))
    dog.arm(0.05, lambda: order.append("soon"))  # the thread sleeps towards 0.5 s: it must be woken
    assert both.wait(5)
    assert order == ["soon", "late"]


def test_an_alarm_that_raises_does_not_stop_the_next() -> None:
    dog = Watchdog()

    def broken() -> None:
        raise OSError("socket already gone")

    dog.arm(0.01, broken)
    after = threading.Event()
    dog.arm(0.1, after.set)
    assert after.wait(5)


def test_every_call_shares_one_thread() -> None:
    dog = Watchdog()
    before = threading.active_count()
    alarms = [dog.arm(60, lambda: None) for _ in range(50)]
    assert threading.active_count() == before + 1
    for alarm in alarms:
        alarm.cancel()
