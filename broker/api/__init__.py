"""The hub's HTTP faces: the national system's intake API (agency and console APIs join here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from broker import console
from broker.agency_keys import KeyGuard
from broker.api import agency, citizen, errors, intake, operations, survey
from broker.api.middleware import BodyGuard, KeyThrottle, RequestTimer
from broker.gauges import store_registry
from broker.hub import Hub
from schemas import EventPage

__all__ = ["app_from_environment", "create_app"]

DESCRIPTION = """
The message broker between Tawasul, Bahrain's National Suggestions and Complaints System
(تواصل - النظام الوطني للمقترحات والشكاوى), and the systems of the government agencies.

* **National system** (`/v1`, header `X-API-Key`): submit cases, read them back, follow events
  through the cursor-paged feed or the signed webhook described under *Webhooks*.
* **Agencies** (`/agency/v1`, header `X-API-Key` with the agency's own key): list the agency's open
  handoffs, read one, and send acknowledgements, progress, answers, questions for the citizen,
  transfer requests or rejections. What the hub sends to agencies is under *Webhooks*
  (`agency-delivery`). Every refusal is a 4xx with a `detail` that says why, and writes nothing.
"""


def _threads_as_connections(hub: Hub) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Run at most `HUB_DB_POOL_SIZE` endpoints at once, one per pooled connection.

    Starlette's default is 40 threads: a burst of agency calls then took connections beyond the
    pool, each opened for one request and closed after it (a PostgreSQL session's start costs
    more CPU than the request's own statements); now the burst waits for a thread instead.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = hub.settings.db_pool_size
        yield

    return lifespan


def create_app(hub: Hub) -> FastAPI:
    """The ASGI app serving `hub`."""
    docs = hub.settings.docs  # L10: off in production (HUB_DOCS=false): no open /docs, /redoc, /openapi.json
    app = FastAPI(
        title="Tawasul hub",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        lifespan=_threads_as_connections(hub),
    )
    app.state.hub = hub
    app.state.store_gauges = store_registry(hub)
    app.state.key_guard = KeyGuard(
        per_minute=hub.settings.key_failures_per_minute, burst=hub.settings.key_failures_burst
    )
    app.add_middleware(BodyGuard, max_bytes=hub.settings.max_body_bytes)
    app.add_middleware(KeyThrottle, guard=app.state.key_guard)
    app.add_middleware(RequestTimer)  # outermost: times refusals by the body guard too
    errors.install(app)
    app.include_router(intake.router)
    app.include_router(agency.router)
    app.include_router(citizen.router)
    app.include_router(survey.router)
    app.include_router(operations.router)
    app.webhooks.include_router(agency.webhooks)
    console.install(app)

    @app.webhooks.post("case-events")
    def case_events_webhook(body: EventPage) -> None:
        """What the hub POSTs to HUB_WEBHOOK_URL: a batch of events in feed order.

        Headers: `X-Tawasul-Timestamp` (Unix seconds) and `X-Tawasul-Signature`
        (`sha256=` + hex HMAC-SHA256 of `timestamp + "." + body` with HUB_WEBHOOK_SECRET).
        Answer 2xx to move on; anything else is retried with backoff. De-duplicate on event `id`.
        """

    return app


def app_from_environment() -> FastAPI:
    """The app for a hub built from HUB_* settings (uvicorn's factory, one per API process)."""
    from broker.hub import get_hub
    from broker.logging import configure_logging
    from broker.runner import freeze_startup_heap

    hub = get_hub()
    configure_logging(hub.settings.log_format, hub.settings.log_level)
    app = create_app(hub)
    freeze_startup_heap()
    return app
