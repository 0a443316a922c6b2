"""For the people and tools that run the hub: liveness, readiness and metrics (no API key).

/metrics shows counts by agency, adapter, state and reason, never a case or a citizen; set
HUB_METRICS_TOKEN to ask scrapers for a bearer token as well.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from broker import metrics
from broker.api.deps import get_hub_dep
from broker.health import readiness
from broker.hub import Hub

router = APIRouter(tags=["operations"])

HubDep = Annotated[Hub, Depends(get_hub_dep)]


@router.get("/healthz")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: the store is unreachable or its schema is behind."}})
def ready(hub: HubDep) -> JSONResponse:
    """Readiness: the store answers and its schema is current; the broker is reported (intake needs none)."""
    report = readiness(hub, needs_broker=False)
    return JSONResponse(report.as_dict(), status_code=200 if report.ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 401: {"description": "HUB_METRICS_TOKEN is set: wrong token."}},
)
def metrics_page(request: Request, hub: HubDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus metrics: this API's counters (all its processes') and the store's state."""
    if not metrics.authorised(hub.settings, authorization):
        return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401)
    return Response(metrics.exposition(request.app.state.store_gauges), media_type=metrics.CONTENT_TYPE)
