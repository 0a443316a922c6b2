"""What every console page shares: templates, the signed-in person, CSRF on every form, permissions.

A route asks for `Staff` through `staff(permission)` (pages) or `staff_form(permission)` (forms):
no session sends a page to the sign-in form (401 for fragments), a form without its session's
CSRF token is refused (403), and a role without the permission gets 403.
"""

from __future__ import annotations

import csv
import hmac
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.console import accounts
from broker.console.accounts import Session
from broker.console.i18n import Texts, template_globals
from broker.console.permissions import Permission, allowed, mask_cpr
from broker.hub import Hub

COOKIE = "tawasul_console"
LOGIN_CSRF_COOKIE = "tawasul_console_login"
FLASH_COOKIE = "tawasul_console_flash"
PREFIX = "/console"

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignInNeeded(Exception):
    """Raised when a console page is asked for without a live session."""

    def __init__(self, fragment: bool) -> None:
        super().__init__("sign in first")
        self.fragment = fragment


class Refused(Exception):
    """Raised when the console says no: the status and the string key of the reason."""

    def __init__(self, status: int, reason: str, texts: Texts) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.texts = texts


@dataclass
class Staff:
    """The signed-in person on this request, in their language, with the form they sent."""

    hub: Hub
    session: Session
    texts: Texts
    request: Request
    form: FormData | None = None
    flash: str | None = field(default=None)

    @property
    def actor(self) -> str:
        """How the audit trail names this person."""
        return self.session.user.actor

    def can(self, permission: Permission | str) -> bool:
        """Whether this person's role allows `permission`."""
        return allowed(self.session.user.role, Permission(permission))

    def cpr(self, value: str | None) -> str:
        """A citizen's CPR as this role may see it."""
        if not value:
            return "—"
        return value if self.can(Permission.see_cpr) else mask_cpr(value)

    def field(self, name: str, default: str = "") -> str:
        """One text field of the form."""
        value = self.form.get(name, default) if self.form is not None else default
        return value if isinstance(value, str) else default

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """A page, with this person's language, direction and digits."""
        html = templates.get_template(name).render(
            staff=self, csrf=self.session.csrf, flash=self.flash, **template_globals(self.texts), **context
        )
        response = HTMLResponse(html, status_code=status)
        if self.flash is not None:
            response.delete_cookie(FLASH_COOKIE, path=PREFIX)
        return response

    def redirect(self, path: str, message: str | None = None) -> RedirectResponse:
        """Back to a page (303: the browser GETs it), with a message shown there once."""
        response = RedirectResponse(path, status_code=303)
        if message:
            set_cookie(self.hub, response, FLASH_COOKIE, quote(message, safe=""), max_age=60)
        return response


def csv_download(rows: list[list[object]], name: str) -> Response:
    """Rows as a CSV file to download (`tawasul-NAME.csv`, UTF-8, CRLF as RFC 4180 says)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return Response(
        out.getvalue().encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tawasul-{name}.csv"'},
    )


def set_cookie(hub: Hub, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """A console cookie: HttpOnly, SameSite=Lax, Secure unless HUB_CONSOLE_SECURE_COOKIES is off (the demo)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        secure=hub.settings.console_secure_cookies,
        samesite="lax",
    )


HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
"""On every console answer: only the hub's own scripts and styles, never in a frame, never cached
(pages show citizens' personal data)."""


class ConsoleHeaders:
    """ASGI middleware adding HEADERS to answers under /console (other paths pass straight through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers when the response starts."""
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, sending)


def hub_of(request: Request) -> Hub:
    """The hub this app serves."""
    hub: Hub = request.app.state.hub
    return hub


def language_of(request: Request) -> Texts:
    """The language for someone not signed in: `?lang=`, else Arabic."""
    return Texts(request.query_params.get("lang", "ar"))


def _session(request: Request, fragment: bool) -> tuple[Hub, Session]:
    hub = hub_of(request)
    key = request.cookies.get(COOKIE)
    found = None
    if key:
        with hub.engine.connect() as conn:
            found = accounts.session(conn, key)
    if found is None:
        raise SignInNeeded(fragment)
    return hub, found


def _staff(request: Request, hub: Hub, s: Session) -> Staff:
    flash = request.cookies.get(FLASH_COOKIE)
    return Staff(hub, s, Texts(s.user.language, s.user.digits), request, flash=unquote(flash) if flash else None)


def staff(permission: Permission, *, fragment: bool = False) -> Callable[[Request], Staff]:
    """A dependency: the signed-in person, who must have `permission` (for pages and fragments)."""

    def dependency(request: Request) -> Staff:
        hub, s = _session(request, fragment)
        person = _staff(request, hub, s)
        if not person.can(permission):
            raise Refused(403, "forbidden", person.texts)
        return person

    return dependency


def staff_form(permission: Permission) -> Callable[[Request], Awaitable[Staff]]:
    """A dependency for a form: signed in, the session's CSRF token in the form, and `permission`."""

    async def dependency(request: Request) -> Staff:
        hub, s = _session(request, fragment=False)
        person = _staff(request, hub, s)
        person.form = await request.form()
        sent = person.field("csrf")
        if not sent or not hmac.compare_digest(sent.encode(), s.csrf.encode()):
            raise Refused(403, "csrf", person.texts)
        if not person.can(permission):
            raise Refused(403, "forbidden", person.texts)
        return person

    return dependency


def refusal_page(texts: Texts, status: int, reason: str) -> HTMLResponse:
    """The page for a refusal, in the person's language."""
    html = templates.get_template("refused.html").render(
        staff=None, reason=texts(reason), status=status, flash=None, **template_globals(texts)
    )
    return HTMLResponse(html, status_code=status)
