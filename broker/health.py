"""Is a process alive, and ready to work? What /healthz and /readyz answer for supervisors.

Alive: the process answers and, for the worker and the scheduler, its loop went round recently
(`Heartbeat`). Ready: alive, the store answers, its schema is the one this code expects (or a newer
one: during a rolling upgrade the new release migrates first, and its migrations only add), and the
broker answers. The API needs no broker to accept cases (they are committed and relayed when the
broker is back), so there the broker is reported without making the API unready.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kombu.connection import Connection as BrokerConnection
from sqlalchemy import text

from broker.hub import Hub
from broker.store.migrate import schema_status

BROKER_TIMEOUT = 3.0
"""Seconds a readiness probe waits for the broker."""


@dataclass(frozen=True)
class Check:
    """One thing a process needs, and how it stands (the detail names no secret)."""

    name: str
    ok: bool
    detail: str
    required: bool = True


@dataclass(frozen=True)
class Readiness:
    """Every check of one probe; ready when each required one passed."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """True when every required check passed."""
        return all(c.ok for c in self.checks if c.required)

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of /readyz."""
        return {
            "status": "ready" if self.ready else "not ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail, "required": c.required} for c in self.checks},
        }


class Heartbeat:
    """When a process's main loop last went round; the process is alive while that is recent."""

    def __init__(self, stale_after: float) -> None:
        self.stale_after = stale_after
        self.last = time.monotonic()

    def beat(self) -> None:
        """The loop went round."""
        self.last = time.monotonic()

    def check(self) -> Check:
        """Alive unless the loop has been stuck for longer than `stale_after`."""
        age = time.monotonic() - self.last
        return Check("loop", age <= self.stale_after, f"last went round {age:.1f} s ago")


def _error(exc: BaseException) -> str:
    """The exception's class and first line, without the SQL or a URL."""
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}"[:300]


def database(hub: Hub) -> list[Check]:
    """The store answers, and its schema is this code's or newer."""
    try:
        with hub.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        status = schema_status(hub.engine)
    except Exception as exc:  # any failure to reach the store is the answer, not an error of the probe
        return [Check("database", False, _error(exc)), Check("migrations", False, "unknown: no database")]
    stored = ", ".join(status.stored) or "none"
    detail = {
        "current": f"at {status.head}",
        "ahead": f"at {stored}, newer than this code's {status.head} (a rolling upgrade)",
        "behind": f"at {stored}, this code needs {status.head}: run `tawasul-hub db upgrade`",
    }[status.state]
    return [Check("database", True, hub.engine.dialect.name), Check("migrations", status.state != "behind", detail)]


def broker(hub: Hub, required: bool) -> Check:
    """The broker accepts a connection (the in-process broker always does)."""
    url = hub.settings.broker_url
    if url.startswith("memory"):
        return Check("broker", True, "in-process", required)
    try:
        with BrokerConnection(url, connect_timeout=BROKER_TIMEOUT) as conn:  # type: ignore[no-untyped-call]
            conn.connect()
    except Exception as exc:  # unreachable, refused or bad credentials: all mean "not there"
        return Check("broker", False, _error(exc), required)
    return Check("broker", True, "reachable", required)


def readiness(hub: Hub, *, needs_broker: bool, heartbeat: Heartbeat | None = None) -> Readiness:
    """Everything a process of this kind needs to do its work, checked now."""
    checks = [heartbeat.check()] if heartbeat is not None else []
    checks += database(hub)
    checks.append(broker(hub, required=needs_broker))
    return Readiness(checks)
