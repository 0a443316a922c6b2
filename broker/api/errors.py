"""Hub errors as HTTP answers: each a 4xx with a reason that names the problem."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from broker.errors import Conflict, HubError, InvalidTransition, NotFound, Throttled, Unprocessable
from broker.ids import new_id

log = structlog.get_logger(__name__)

RETRY_AFTER_DB = 5
"""Seconds a caller is asked to wait when the database is unreachable, read-only or locked."""

_UNAVAILABLE_STATES = frozenset(
    {
        "25006",  # read_only_sql_transaction: a replica after failover, or a database set read-only
        "55P03",  # lock_not_available
        "57014",  # query_canceled (statement or lock timeout)
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
        "53300",  # too_many_connections
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    }
)


def unavailable(exc: Exception) -> bool:
    """True when a database error means "try again shortly" rather than a bug (L3)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return state in _UNAVAILABLE_STATES or (isinstance(state, str) and state.startswith("08"))


def _field(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def _requires(dependant: Any, call: Any) -> bool:
    return any(d.call is call or _requires(d, call) for d in dependant.dependencies)


async def _unauthenticated(request: Request) -> JSONResponse | None:
    """The 401 (or 429) a request's route would give its caller, if any: checked before a 422."""
    from broker.api.agency import AgencyCall, agency_caller
    from broker.api.deps import national_system

    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    hub = request.app.state.hub
    key = request.headers.get("X-API-Key")
    national, agency = _requires(dependant, national_system), _requires(dependant, agency_caller)
    reason: str | None = None
    if (national or agency) and key is None:
        reason = "missing X-API-Key header"
    elif national:
        if not hub.settings.is_national_key(key or ""):
            reason = "wrong API key"
    elif agency:
        try:
            await run_in_threadpool(AgencyCall(hub, request, key or "").admit)
        except HTTPException as refused:
            reason = str(refused.detail)
        except Throttled as throttled:
            wait = str(max(1, round(throttled.retry_after)))
            return JSONResponse({"detail": str(throttled)}, status_code=429, headers={"Retry-After": wait})
    if reason is None:
        return None
    return JSONResponse({"detail": reason}, status_code=401, headers={"WWW-Authenticate": "ApiKey"})


def install(app: FastAPI) -> None:
    """Register the handlers that turn hub errors and validation errors into clear answers."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        refused = await _unauthenticated(request)
        if refused is not None:
            return refused  # L10: who is asking is settled before what they sent
        errors = [{"field": _field(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"detail": summary, "errors": errors}, status_code=422)

    @app.exception_handler(Unprocessable)
    async def _unprocessable(_: Request, exc: Unprocessable) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{exc.field}: {exc}", "errors": [{"field": exc.field, "message": str(exc)}]},
            status_code=422,
        )

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(InvalidTransition)
    async def _conflict(_: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "state": exc.state}, status_code=409)

    @app.exception_handler(Conflict)
    async def _raced(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "state": exc.state}, status_code=409)

    @app.exception_handler(Throttled)
    async def _throttled(_: Request, exc: Throttled) -> JSONResponse:
        wait = max(1, round(exc.retry_after))
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(wait)})

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # every transaction rolled back on the way out (broker.store.engine.transaction): nothing is written
        if unavailable(exc):
            log.warning("api.database_unavailable", path=request.url.path, error=type(exc).__name__)
            return JSONResponse(
                {"detail": "the database is unavailable; try again shortly"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_DB)},
            )
        error_id = new_id("err")
        log.error("api.database_error", path=request.url.path, error_id=error_id, exc_info=exc)
        return JSONResponse({"detail": "internal error", "error_id": error_id}, status_code=500)

    @app.exception_handler(HubError)
    async def _hub_error(_: Request, exc: HubError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)
