"""One thread per process that fires the HTTP calls' time limits.

Every outgoing call is bounded in total time by a callback that shuts its connection down when
the time is up. A `threading.Timer` per call starts and ends an OS thread per call (about 0.2 ms
of CPU each, measured); here one thread keeps the pending time limits in a heap and sleeps until
the nearest one.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class Alarm:
    """A pending alarm; `cancel` it once the call has finished."""

    __slots__ = ("at", "fire", "live", "seq")

    def __init__(self, at: float, seq: int, fire: Callable[[], None]) -> None:
        self.at, self.seq, self.fire, self.live = at, seq, fire, True

    def __lt__(self, other: Alarm) -> bool:
        return (self.at, self.seq) < (other.at, other.seq)

    def cancel(self) -> None:
        """Never fire (a cancelled alarm leaves the heap when it comes due)."""
        self.live = False


class Watchdog:
    """Fires each armed callback once its time has come, on one daemon thread started on first use."""

    def __init__(self) -> None:
        self._seq = itertools.count()
        self.forget()

    def forget(self) -> None:
        """Start afresh (in a forked child, which has none of its parent's threads)."""
        self._cond = threading.Condition()
        self._heap: list[Alarm] = []
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, fire: Callable[[], None]) -> Alarm:
        """Call `fire` in `seconds` unless the returned alarm is cancelled first."""
        alarm = Alarm(time.monotonic() + seconds, next(self._seq), fire)
        with self._cond:
            heapq.heappush(self._heap, alarm)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0] is alarm:
                self._cond.notify()  # sooner than what the thread sleeps towards
        return alarm

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0].at > time.monotonic():
                    self._cond.wait(self._heap[0].at - time.monotonic() if self._heap else None)
                due = heapq.heappop(self._heap)
            if due.live:
                try:
                    due.fire()
                except Exception:  # one call's failure to abort must not stop every later one's
                    log.exception("watchdog.fire_failed")


watchdog = Watchdog()
"""This process's watchdog."""

os.register_at_fork(after_in_child=watchdog.forget)
