"""The relay: sequences new events and publishes due outbox work to the broker, in batches.

Several relays may run (SKIP LOCKED on PostgreSQL keeps their claims apart); only the one holding
the advisory lock sequences events in a pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import islice

import structlog
from sqlalchemy import Connection, text, update

from broker import events, isolation, outbox, webhook
from broker.hub import Hub
from broker.store.engine import now, transaction
from broker.store.tables import outbox as outbox_table

log = structlog.get_logger(__name__)

Publish = Callable[[str, list[tuple[str, str]]], None]
"""Sends one broker message: a topic and its (ref, token) pairs."""

_SEQUENCER_LOCK = 0x7441_7761  # arbitrary, constant advisory-lock key for the event sequencer


def _locks(conn: Connection) -> bool:
    """Take the claim lock and try the sequencer's, in one round trip; True when this pass sequences."""
    if conn.dialect.name != "postgresql":
        return True  # SQLite: one writer at a time already
    row = conn.execute(
        text("SELECT pg_try_advisory_xact_lock(:seq) AS sequencer, pg_advisory_xact_lock(:claim) IS NULL"),
        {"seq": _SEQUENCER_LOCK, "claim": isolation.CLAIM_LOCK},
    ).one()
    return bool(row.sequencer)


def _chunks(items: list[tuple[str, str]], size: int) -> list[list[tuple[str, str]]]:
    it = iter(items)
    return list(iter(lambda: list(islice(it, size)), []))


class Relay:
    """One relay loop's state: the hub and how to publish."""

    def __init__(self, hub: Hub, publish: Publish) -> None:
        self.hub = hub
        self.publish = publish
        self.skip_locked = hub.engine.dialect.name == "postgresql"
        self.connected = False
        """Whether the last pass published work for a connected agency (see `scheduler.run`'s linger)."""

    def run_once(self) -> int:
        """One pass; returns how many outbox rows were published."""
        s = self.hub.settings
        with transaction(self.hub.engine) as conn:
            if _locks(conn):
                events.sequence(conn)
            if s.webhook_url and webhook.behind(conn):
                outbox.ensure(conn, outbox.WEBHOOK, webhook.CURSOR)
            claimed = isolation.claim_due(
                conn, self.hub, s.relay_batch, s.lease_seconds, self.skip_locked, locked=self.skip_locked
            )
        groups: dict[tuple[str, str | None], list[tuple[str, str]]] = defaultdict(list)
        for work in claimed:
            groups[(work.topic, self._group(work.agency_id))].append((work.ref, work.token))
        self.connected = any(agency is not None for _topic, agency in groups)
        if not claimed:
            return 0
        published = 0
        for (topic, _agency), items in groups.items():
            for chunk in _chunks(items, s.task_batch):
                try:
                    self.publish(topic, chunk)
                    published += len(chunk)
                except Exception as exc:
                    log.warning("relay.publish_failed", topic=topic, count=len(chunk), error=str(exc))
                    self._release(topic, [ref for ref, _ in chunk])
        return published

    def _group(self, agency_id: str | None) -> str | None:
        """Which broker messages work may share.

        One agency's work travels alone, so a slow agency holds up only its own; manual agencies
        wait on nobody, so their work shares messages (fewer, fuller worker tasks).
        """
        if agency_id is None or agency_id not in self.hub.directory.agencies:
            return agency_id
        return None if self.hub.directory.adapter(agency_id).capabilities.manual else agency_id

    def _release(self, topic: str, refs: list[str]) -> None:
        """Make unpublished work due again at once, rather than after a whole lease."""
        with transaction(self.hub.engine) as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.topic == topic, outbox_table.c.ref.in_(refs))
                .values(due_at=now())
            )
