"""Hub errors as HTTP answers: each a 4xx with a reason that names the problem."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from broker.errors import Conflict, HubError, InvalidTransition, NotFound, Throttled, Unprocessable


def _field(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that turn hub errors and validation errors into clear answers."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
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

    @app.exception_handler(HubError)
    async def _hub_error(_: Request, exc: HubError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)
