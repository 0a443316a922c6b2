"""Counters and histograms, recorded where things happen, and the /metrics exposition.

Each is recorded by the process where the thing happens (deliveries in workers, intake in API
processes, polled messages in the scheduler), by one call from the core. Gauges that describe the
store's state are read at scrape time instead (broker.gauges).

Several API processes (`tawasul-hub api --workers N`) add up their counters through
prometheus-client's multi-process mode: PROMETHEUS_MULTIPROC_DIR, prepared by
`share_between_processes` before the processes start. Labels name agencies, adapters, outcomes
and sources: never a case, a handoff or a citizen.
"""

from __future__ import annotations

import atexit
import hmac
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from adapters.errors import DeliveryError, PermanentDeliveryError, UncertainDeliveryError
from broker.settings import Settings
from broker.store.engine import now
from schemas import Receipt

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
"""From the case's arrival to its delivery: sub-second when all is well, hours when an agency is down."""
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40)
"""One adapter call or one HTTP request; the top is HUB_DELIVERY_TIMEOUT's default."""

DELIVERY_ATTEMPTS = Counter(
    "hub_delivery_attempts",
    "Adapter calls made to deliver handoffs, by how the call ended (ok, retriable, uncertain, permanent).",
    ["agency", "adapter", "result"],
)
DELIVERY_ATTEMPT_SECONDS = Histogram(
    "hub_delivery_attempt_seconds", "How long one adapter call took.", ["agency", "adapter"], buckets=_CALL_BUCKETS
)
DELIVERIES = Counter(
    "hub_deliveries",
    "Delivery attempts settled: delivered, retry (scheduled again), failed (gave up: follow-up queue) or "
    "outcome_unknown (may have reached the agency: an officer checks).",
    ["agency", "adapter", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "hub_delivery_latency_seconds",
    "From the handoff's creation (the case's intake, or a transfer) to its delivery.",
    ["agency"],
    buckets=_LATENCY_BUCKETS,
)
CASES = Counter("hub_cases_received", "New cases accepted at intake.", ["kind", "channel"])
MESSAGES = Counter(
    "hub_agency_messages", "Agency messages recorded (not repeats), by where they came from.", ["source", "kind"]
)
WEBHOOK_POSTS = Counter("hub_webhook_posts", "Webhook batches POSTed to the national system.", ["outcome"])
HTTP_SECONDS = Histogram(
    "hub_http_request_seconds",
    "HTTP requests served, by route template (intake: POST /v1/cases and /v1/cases/batch).",
    ["route", "method", "status"],
    buckets=_CALL_BUCKETS,
)

T = TypeVar("T", bound=Receipt | DeliveryError)


# --- recorded where things happen ------------------------------------------------------------------


def attempt_made(agency_id: str, adapter: str, outcome: Receipt | DeliveryError | None, seconds: float) -> None:
    """One delivery attempt ended (the adapter was called, or the agency asked): count and time it."""
    DELIVERY_ATTEMPT_SECONDS.labels(agency_id, adapter).observe(seconds)
    if isinstance(outcome, Receipt):
        result = "ok"
    elif isinstance(outcome, PermanentDeliveryError):
        result = "permanent"
    elif isinstance(outcome, UncertainDeliveryError):
        result = "uncertain"
    else:
        result = "retriable"
    DELIVERY_ATTEMPTS.labels(agency_id, adapter, result).inc()


def delivery_settled(agency_id: str, adapter: str, outcome: str, created_at: datetime) -> None:
    """A delivery attempt's outcome was committed: `delivered`, `retry`, `failed` or `outcome_unknown`."""
    DELIVERIES.labels(agency_id, adapter, outcome).inc()
    if outcome == "delivered":
        DELIVERY_LATENCY.labels(agency_id).observe(max(0.0, (now() - created_at).total_seconds()))


def cases_received(rows: list[dict[str, Any]]) -> None:
    """New case rows were committed at intake."""
    for row in rows:
        CASES.labels(row["kind"], row["payload"].get("channel", "")).inc()


def message_recorded(source: str, kind: str) -> None:
    """An agency message (not a repeat) was recorded."""
    MESSAGES.labels(source, kind).inc()


def webhook_posted(ok: bool) -> None:
    """A webhook batch was POSTed; `ok` when the national system answered 2xx."""
    WEBHOOK_POSTS.labels("ok" if ok else "failed").inc()


# --- exposition ------------------------------------------------------------------------------------


def authorised(settings: Settings, authorization: str | None) -> bool:
    """Whether a scrape may read /metrics: always, unless HUB_METRICS_TOKEN asks for a bearer token."""
    token = settings.metrics_token
    if token is None:
        return True
    expected = f"Bearer {token.get_secret_value()}".encode()
    return authorization is not None and hmac.compare_digest(authorization.encode(), expected)


def exposition(store: CollectorRegistry | None = None) -> bytes:
    """This process's metrics (every API process's, in multi-process mode), then the store's gauges."""
    if os.environ.get(MULTIPROC_ENV):
        shared = CollectorRegistry()
        MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
        body = generate_latest(shared)
    else:
        body = generate_latest(REGISTRY)
    return body + (generate_latest(store) if store is not None else b"")


def share_between_processes() -> Path:
    """Prepare PROMETHEUS_MULTIPROC_DIR for API processes about to start: set it up, or empty it.

    Called by the parent before its children import prometheus-client; a directory this call made
    is removed when the parent exits. Files of a previous run would add stale counts, so an
    existing directory is emptied.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return directory
    directory = Path(tempfile.mkdtemp(prefix="tawasul-hub-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory
