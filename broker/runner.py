"""Running the hub: everything in one process on embedded defaults, or each part on its own."""

from __future__ import annotations

import gc
import os
import signal
import threading

import structlog
import uvicorn
from celery.worker import WorkController

from broker import metrics, scheduler, tasks
from broker.api import create_app
from broker.health import Heartbeat
from broker.hub import Hub
from broker.probes import serve_probes, worker_heartbeat
from broker.recurring import features as recurring_features
from broker.store.migrate import upgrade

log = structlog.get_logger(__name__)


def start_worker_thread(hub: Hub) -> WorkController:
    """A Celery worker (thread pool) inside this process, consuming every hub queue."""
    app = tasks.configure(hub.settings)
    worker = WorkController(
        app=app,
        pool_cls="threads",
        concurrency=hub.settings.worker_concurrency,
        queues=[tasks.queue_name(hub.settings, t) for t in tasks.TASKS],
        hostname=f"{hub.settings.queue_prefix}-{os.getpid()}@localhost",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel="WARNING",
    )
    threading.Thread(target=worker.start, name="hub-worker", daemon=True).start()
    return worker


def start_scheduler_thread(hub: Hub) -> threading.Event:
    """The relay and periodic jobs in a background thread; set the returned event to stop it."""
    tasks.configure(hub.settings)
    stop = threading.Event()
    threading.Thread(target=scheduler.run, args=(hub, tasks.publish, stop), name="hub-scheduler", daemon=True).start()
    return stop


STUCK_AFTER = 300.0
"""Seconds without a heartbeat after which a worker or scheduler reports itself stuck (/healthz 503)."""


def _probes(hub: Hub) -> Heartbeat:
    """This process's heartbeat, and its /healthz, /readyz and /metrics on HUB_METRICS_PORT if set."""
    heartbeat = Heartbeat(stale_after=STUCK_AFTER)
    if hub.settings.metrics_port is not None:
        serve_probes(hub, hub.settings.metrics_port, heartbeat)
    return heartbeat


def freeze_startup_heap() -> None:
    """Hide what start-up built (modules, the app, the config) from the garbage collector for good.

    A full collection otherwise walks all of it: about 140 ms of the API process's CPU each time
    on the benchmark machine, during which no request moves. Called once a process has loaded
    everything it will keep, just before it starts serving.
    """
    gc.collect()
    gc.freeze()


def run_worker(hub: Hub) -> None:
    """A standalone worker process (distributed set-up)."""
    app = tasks.configure(hub.settings)
    app.steps["consumer"].add(worker_heartbeat(_probes(hub)))
    freeze_startup_heap()
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={hub.settings.worker_concurrency}",
            f"--queues={','.join(tasks.queue_name(hub.settings, t) for t in tasks.TASKS)}",
            # a node name of its own: workers sharing one (same host) share a remote-control queue
            f"--hostname={hub.settings.queue_prefix}-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
        ]
    )


def run_scheduler(hub: Hub) -> None:
    """A standalone scheduler process: relay plus periodic jobs, until interrupted or terminated.

    SIGTERM ends the loop after the pass under way, so a restart never cuts a publish short.
    """
    tasks.configure(hub.settings)
    heartbeat = _probes(hub)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    jobs = [
        *scheduler.default_jobs(hub.settings.recurring),
        scheduler.Periodic("heartbeat", 0.0, lambda _hub: heartbeat.beat()),
    ]
    if hub.settings.recurring:
        recurring_features.prepare()  # scikit-learn and the lexicon, loaded before the freeze
    freeze_startup_heap()
    try:
        scheduler.run(hub, tasks.publish, stop, jobs)
    except KeyboardInterrupt:
        stop.set()


def run_api(hub: Hub, host: str, port: int, workers: int = 1) -> None:
    """Serve the HTTP APIs (blocking); several worker processes each build their hub from the environment.

    Several processes add up their metrics in PROMETHEUS_MULTIPROC_DIR, prepared here before they start.
    """
    if workers > 1 or os.environ.get(metrics.MULTIPROC_ENV):
        metrics.share_between_processes()
    if workers > 1:
        uvicorn.run(
            "broker.api:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            log_config=None,  # uvicorn's loggers propagate into the hub's redacting handler (M4)
        )
        return
    app = create_app(hub)
    freeze_startup_heap()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, log_config=None)


def serve(hub: Hub, host: str, port: int) -> None:
    """API, worker and scheduler in one process: the embedded default."""
    upgrade(hub.engine)
    hub.directory  # noqa: B018 - load and check the config before anything starts
    worker = start_worker_thread(hub)
    stop = start_scheduler_thread(hub)
    log.info("hub.serving", url=f"http://{host}:{port}", agencies=len(hub.directory.agencies))
    try:
        run_api(hub, host, port)
    finally:
        stop.set()
        worker.stop(in_sighandler=False)
        hub.directory.close()
