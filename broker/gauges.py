"""The store's state as Prometheus gauges, read when /metrics is scraped.

Open, overdue and escalated handoffs per agency, the follow-up queue by reason, outbox lag,
circuits and the webhook's progress are facts of the database, not of one process: reading them at
scrape time makes them right whichever process serves them, and costs nothing between scrapes.
Every query is an index scan whose cost follows what is open or queued, not the store's history
(bench/metrics_scrape.py measures it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select, text

from broker import followup
from broker.circuit import CircuitState
from broker.hub import Hub
from broker.outbox import DELIVER, WEBHOOK
from broker.store.engine import now
from broker.store.tables import OPEN_HANDOFF, agency_circuits, cursors, events, handoffs, outbox
from broker.webhook import CURSOR
from schemas import FollowupReason

log = structlog.get_logger(__name__)


def followup_counts(conn: Connection) -> dict[str, int]:
    """The follow-up queue by reason, through the partial index on queued handoffs."""
    return {reason.value: n for reason, n in followup.counts(conn).items()}


def open_handoffs(conn: Connection) -> Sequence[Any]:
    """Per agency and open state: how many, how many overdue, how many escalated (index-only on ix_handoffs_open)."""
    h = handoffs.c
    return conn.execute(
        select(
            h.agency_id,
            h.state,
            func.count().label("open"),
            func.count().filter(h.overdue.is_(True)).label("overdue"),
            func.count().filter(h.escalation_level > 0).label("escalated"),
        )
        .where(OPEN_HANDOFF)
        .group_by(h.agency_id, h.state)
    ).all()


def oldest_due(conn: Connection) -> dict[tuple[str, str], datetime]:
    """(topic, agency) → the oldest `due_at` of its outbox rows (the outbox holds only work not yet done)."""
    o = outbox.c
    rows = conn.execute(select(o.topic, o.agency_id, func.min(o.due_at)).group_by(o.topic, o.agency_id))
    return {(topic, agency or ""): due for topic, agency, due in rows}


class StoreCollector(Collector):
    """The state gauges (the webhook's when one is set); a scrape the store cannot answer gets `hub_store_up 0`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not query the store."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every state gauge, or only `hub_store_up 0` when the store fails."""
        up = GaugeMetricFamily("hub_store_up", "1 when the store answered the scrape's queries.")
        try:
            families = self._read()
        except Exception as exc:  # a scrape must answer even when the store does not
            log.warning("metrics.store_unreadable", error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        agencies = sorted(self.hub.directory.agencies)
        with self.hub.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL statement_timeout = 5000"))  # a slow store must not hang scrapes
            at = now()
            counts = open_handoffs(conn)
            queue = followup_counts(conn)
            due = oldest_due(conn)
            circuits = conn.execute(select(agency_circuits)).all()
            families = [
                *_handoff_families(counts),
                _followup_family(queue),
                _lag_family(due, agencies, at),
                *_circuit_families(agencies, circuits, at),
            ]
            if self.hub.settings.webhook_url:
                top = conn.execute(select(func.max(events.c.position))).scalar_one()
                cursor = conn.execute(select(cursors).where(cursors.c.name == CURSOR)).first()
                families += _webhook_families(top or 0, cursor)
            conn.rollback()
        return families


def store_registry(hub: Hub) -> CollectorRegistry:
    """A registry holding only the store's gauges, for the processes that serve them (the API's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(hub))
    return registry


def _handoff_families(counts: Sequence[Any]) -> list[Metric]:
    opened = GaugeMetricFamily("hub_handoffs_open", "Handoffs in an open state.", labels=["agency", "state"])
    overdue = GaugeMetricFamily("hub_handoffs_overdue", "Open handoffs past their answer-by time.", labels=["agency"])
    escalated = GaugeMetricFamily("hub_handoffs_escalated", "Open handoffs escalated at least once.", labels=["agency"])
    late: dict[str, list[int]] = {}
    for row in counts:
        opened.add_metric([row.agency_id, row.state], row.open)
        sums = late.setdefault(row.agency_id, [0, 0])
        sums[0] += row.overdue
        sums[1] += row.escalated
    for agency, (n_overdue, n_escalated) in sorted(late.items()):
        overdue.add_metric([agency], n_overdue)
        escalated.add_metric([agency], n_escalated)
    return [opened, overdue, escalated]


def _followup_family(queue: dict[str, int]) -> Metric:
    family = GaugeMetricFamily("hub_followup_queue", "Handoffs on the follow-up queue, by reason.", labels=["reason"])
    for reason in FollowupReason:
        family.add_metric([reason.value], queue.get(reason.value, 0))
    return family


def _lag_family(due: dict[tuple[str, str], datetime], agencies: list[str], at: datetime) -> Metric:
    family = GaugeMetricFamily(
        "hub_outbox_lag_seconds",
        "Age of the oldest outbox row that is due and not yet taken (0: nothing waits).",
        labels=["topic", "agency"],
    )
    every = {(WEBHOOK, ""), *((DELIVER, a) for a in agencies), *due}
    for topic, agency in sorted(every):
        oldest = due.get((topic, agency))
        family.add_metric([topic, agency], max(0.0, (at - oldest).total_seconds()) if oldest else 0.0)
    return family


def _circuit_families(agencies: list[str], rows: Sequence[Any], at: datetime) -> list[Metric]:
    state = GaugeMetricFamily(
        "hub_agency_circuit_state",
        "1 for the agency's circuit state (closed, open, half_open).",
        labels=["agency", "state"],
    )
    opened = GaugeMetricFamily(
        "hub_agency_circuit_open_seconds",
        "How long the agency's circuit has not been closed (0: closed).",
        labels=["agency"],
    )
    stored = {r.agency_id: r for r in rows}
    for agency in sorted(set(agencies) | set(stored)):
        row = stored.get(agency)
        current = row.state if row is not None else CircuitState.closed.value
        for s in CircuitState:
            state.add_metric([agency, s.value], 1.0 if s.value == current else 0.0)
        since = row.opened_at if row is not None and current != CircuitState.closed.value else None
        opened.add_metric([agency], max(0.0, (at - since).total_seconds()) if since else 0.0)
    return [state, opened]


def _webhook_families(top: int, cursor: Any) -> list[Metric]:
    behind = GaugeMetricFamily("hub_webhook_behind_events", "Sequenced events the national system has not received.")
    behind.add_metric([], max(0, top - (cursor.position if cursor is not None else 0)))
    failing = GaugeMetricFamily("hub_webhook_failing", "1 while the last webhook POST failed (until one succeeds).")
    failing.add_metric([], 1 if cursor is not None and cursor.last_error else 0)
    return [behind, failing]
