"""Telling the national system what changed: signed webhooks, in feed order, at least once.

Events go out in batches from a stored cursor; the cursor moves only after a 2xx, so a failure
or a crash sends the same events again (receivers de-duplicate on each event's `id`).
"""

from __future__ import annotations

import json
import threading

import requests
import structlog
from sqlalchemy import Connection, func, insert, select, update

from adapters.signing import IDEMPOTENCY_HEADER, signed_headers
from broker import events, metrics, outbox
from broker.hub import Hub
from broker.outbox import WEBHOOK
from broker.retry import backoff
from broker.store.engine import transaction
from broker.store.tables import cursors
from broker.store.tables import events as events_table

log = structlog.get_logger(__name__)

CURSOR = "webhook"
"""The name of the webhook's row in `cursors`."""
BATCH = 100
TIMEOUT = (3.05, 10.0)


def _position(conn: Connection) -> int:
    row = conn.execute(select(cursors.c.position).where(cursors.c.name == CURSOR)).first()
    if row is None:
        conn.execute(insert(cursors).values(name=CURSOR, position=0, attempts=0))
        return 0
    return int(row.position)


def behind(conn: Connection) -> bool:
    """Whether sequenced events exist that the webhook has not yet delivered."""
    top = conn.execute(select(func.coalesce(func.max(events_table.c.position), 0))).scalar_one()
    return bool(top > _position(conn))


def send_webhook(hub: Hub, token: str) -> None:
    """Deliver the next batch of events; on failure keep the cursor and try again after a backoff."""
    s = hub.settings
    if not s.webhook_url or s.webhook_secret is None:
        with transaction(hub.engine) as conn:
            outbox.done(conn, WEBHOOK, [CURSOR])
        return
    with transaction(hub.engine) as conn:
        taken = outbox.take(conn, WEBHOOK, CURSOR, token, s.lease_seconds)
        if taken is None:
            return  # a stale or repeated message: the current claim is someone else's
        attempts = taken.attempt
        batch = events.feed(conn, _position(conn), BATCH)
    if not batch:
        with transaction(hub.engine) as conn:
            outbox.done(conn, WEBHOOK, [CURSOR])
        return
    body = json.dumps(
        {"events": [e.model_dump(mode="json") for e in batch]}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    key = f"events-{batch[0].id}-{batch[-1].id}"  # the same batch, if sent again, carries the same key
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        IDEMPOTENCY_HEADER: key,
        **signed_headers(s.webhook_secret.get_secret_value(), "POST", s.webhook_url, body, idempotency_key=key),
    }
    try:
        with _session().post(
            s.webhook_url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False, stream=True
        ) as response:  # the status is all it needs: the body is never read
            ok, error = 200 <= response.status_code < 300, f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        ok, error = False, f"{type(exc).__name__}: {exc}"
    metrics.webhook_posted(ok)
    with transaction(hub.engine) as conn:
        if ok:
            conn.execute(
                update(cursors)
                .where(cursors.c.name == CURSOR)
                .values(position=batch[-1].id, attempts=0, last_error=None)
            )
            outbox.postpone(conn, WEBHOOK, CURSOR, 0)  # there may be more; the next run checks
            log.info("webhook.delivered", events=len(batch), upto=batch[-1].id)
        else:
            conn.execute(update(cursors).where(cursors.c.name == CURSOR).values(attempts=attempts, last_error=error))
            outbox.postpone(conn, WEBHOOK, CURSOR, backoff(attempts, s.backoff_base, s.backoff_cap))
            log.warning("webhook.failed", error=error, attempt=attempts)


_local = threading.local()


def _session() -> requests.Session:
    """This thread's session for the webhook: no proxy or .netrc from the environment, no redirects (L10)."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False
    return session
