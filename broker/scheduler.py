"""The scheduler loop: the relay, plus the periodic jobs of `default_jobs`.

The jobs run on a thread of their own, so a long one (grouping a burst of new cases, a deadline
sweep over many handoffs) never makes the relay wait for it to finish. While a job computes, the two
threads share the interpreter lock, so a CPU-heavy pass (recurring grouping) slows the relay's
passes meanwhile without stopping them. A job with `every` 0 is a hook run on each relay
pass instead (the heartbeat that says the relay is alive). Several schedulers may run; each job
tolerates a twin, and so a relay running beside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from broker.hub import Hub
from broker.relay import Publish, Relay
from broker.wakeup import Waiter

log = structlog.get_logger(__name__)


@dataclass
class Periodic:
    """A job run every `every` seconds by the scheduler loop."""

    name: str
    every: float
    run: Callable[[Hub], object]
    last: float = float("-inf")
    """When it last ran (time.monotonic()); never yet: due at once. Not 0.0, since the monotonic clock
    starts near 0 at boot: a job of 15 minutes would have waited out the machine's first 15."""


def default_jobs(recurring: bool = True) -> list[Periodic]:
    """The jobs every scheduler runs beside the relay (each tolerates a twin in another scheduler).

    `recurring` false (HUB_RECURRING=false) leaves out grouping new cases into recurring complaints.
    """
    from broker import inbound, retention, shadow, statistics, sweep
    from broker.recurring import store as recurring_store

    grouping = [Periodic("recurring.attach", recurring_store.EVERY, recurring_store.run_scheduled)] if recurring else []
    return [
        Periodic("deadlines.sweep", sweep.SWEEP_EVERY, sweep.sweep),
        Periodic("agencies.read", inbound.TICK_SECONDS, inbound.read_agencies),
        Periodic("agencies.shadow", shadow.TICK_SECONDS, shadow.run_scheduled),
        Periodic("retention", retention.EVERY, retention.run_scheduled),
        *grouping,
        Periodic("followup.sample", statistics.SAMPLE_EVERY, statistics.sample_queue),
    ]


def _due(jobs: list[Periodic], hub: Hub) -> None:
    """Run each job whose time has come; a failing job is logged, never fatal."""
    at = time.monotonic()
    for job in jobs:
        if at - job.last >= job.every:
            job.last = at
            try:
                job.run(hub)
            except Exception:
                log.exception("scheduler.job_failed", job=job.name)


def _run_jobs(hub: Hub, jobs: list[Periodic], stop: threading.Event) -> None:
    """The periodic jobs' own loop, checking every half second (or at the shortest period) what is due."""
    tick = min([0.5, *(j.every for j in jobs)])
    while not stop.is_set():
        _due(jobs, hub)
        stop.wait(tick)


def run(hub: Hub, publish: Publish, stop: threading.Event, jobs: list[Periodic] | None = None) -> None:
    """Relay due work and run periodic jobs until `stop` is set; never dies on one bad pass."""
    relay = Relay(hub, publish)
    waiter = Waiter(hub.engine, stop)
    jobs = default_jobs(hub.settings.recurring) if jobs is None else list(jobs)
    hooks = [j for j in jobs if j.every == 0]
    periodic = [j for j in jobs if j.every > 0]
    log.info("scheduler.started", jobs=[j.name for j in jobs])
    runner = threading.Thread(target=_run_jobs, args=(hub, periodic, stop), name="hub-jobs", daemon=True)
    runner.start()
    while not stop.is_set():
        started = time.monotonic()
        published = 0
        try:
            published = relay.run_once()
        except Exception:
            log.exception("relay.pass_failed")
        _due(hooks, hub)
        if published == 0:
            waiter.wait(hub.settings.relay_interval)
        elif published < hub.settings.relay_batch:
            # cases trickling in: linger, so the next pass (and each broker message) carries several;
            # longer after connected agencies' work, whose messages go one per agency a pass.
            # A full pass means a backlog, worked through at once.
            s = hub.settings
            linger = s.relay_agency_linger if relay.connected else s.relay_linger
            stop.wait(max(0.0, linger - (time.monotonic() - started)))
    runner.join()  # the job under way finishes its transaction
    waiter.close()
