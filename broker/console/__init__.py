"""The central office's web console under /console: follow-up queue, handoffs, review, closing, statistics, recurring.

Served by the hub's own API app (`tawasul-hub serve` and `tawasul-hub api`), rendered on the server
with Jinja2; its one small script and its styles are files of this package (no CDN, no build).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from broker.console.routes import agencies, auth, cases, handoff, inbound, queue, recurring, review, stats, users
from broker.console.web import PREFIX, ConsoleHeaders, Refused, SignInNeeded, refusal_page

__all__ = ["install"]

ROUTERS = (
    auth.router,
    queue.router,
    handoff.router,
    review.router,
    inbound.router,
    cases.router,
    agencies.router,
    stats.router,
    recurring.router,
    users.router,
)


def install(app: FastAPI) -> None:
    """Add the console's pages, its static files and its refusal pages to the hub's app."""
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX, include_in_schema=False)
    app.add_middleware(ConsoleHeaders)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static")

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        if exc.fragment:
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return RedirectResponse(f"{PREFIX}/login", status_code=303)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> HTMLResponse:
        return refusal_page(exc.texts, exc.status, exc.reason)
