"""The worker's and the scheduler's own HTTP endpoint (HUB_METRICS_PORT): /healthz, /readyz, /metrics.

A supervisor (compose's healthcheck through `tawasul-hub health`, Kubernetes' probes) asks it
whether the process is alive and ready, and Prometheus scrapes the process's own counters there.
It runs in a daemon thread beside the process's work and shares nothing with it but the heartbeat.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from celery import bootsteps
from typing_extensions import override

from broker import metrics
from broker.health import Heartbeat, readiness
from broker.hub import Hub


def serve_probes(hub: Hub, port: int, heartbeat: Heartbeat, host: str = "0.0.0.0") -> ThreadingHTTPServer:  # noqa: S104
    """Start answering probes on `port` in a daemon thread; returns the server (shutdown() stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                check = heartbeat.check()
                self._json(200 if check.ok else 503, {"status": "ok" if check.ok else "stuck", "detail": check.detail})
            elif self.path == "/readyz":
                report = readiness(hub, needs_broker=True, heartbeat=heartbeat)
                self._json(200 if report.ready else 503, report.as_dict())
            elif self.path == "/metrics":
                if not metrics.authorised(hub.settings, self.headers.get("Authorization")):
                    self._json(401, {"detail": "missing or wrong bearer token"})
                    return
                self._send(200, metrics.CONTENT_TYPE, metrics.exposition())
            else:
                self._json(404, {"detail": "not found: /healthz, /readyz or /metrics"})

        def _json(self, status: int, body: object) -> None:
            self._send(status, "application/json", json.dumps(body, ensure_ascii=False).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        @override
        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds would flood the log: keep quiet."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="hub-probes", daemon=True).start()
    return server


BEAT_EVERY = 5.0
"""Seconds between a worker's heartbeats, from its consumer's own event loop."""


def worker_heartbeat(heartbeat: Heartbeat) -> type[bootsteps.StartStopStep]:
    """A Celery consumer step that beats `heartbeat` from the consumer's timer: a stuck consumer stops beating."""

    class Beat(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self.entry: Any = None

        @override
        def start(self, parent: Any) -> None:
            heartbeat.beat()
            self.entry = parent.timer.call_repeatedly(BEAT_EVERY, heartbeat.beat)

        @override
        def stop(self, parent: Any) -> None:
            if self.entry is not None:
                self.entry.cancel()

    return Beat
