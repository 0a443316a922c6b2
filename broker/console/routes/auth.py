"""Signing in and out, and a person's language and digits."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broker.console import accounts
from broker.console.i18n import template_globals
from broker.console.permissions import Permission
from broker.console.web import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    Staff,
    hub_of,
    language_of,
    set_cookie,
    staff_form,
    templates,
)

router = APIRouter()


def _login_page(request: Request, error: str | None, status: int = 200) -> HTMLResponse:
    texts = language_of(request)
    token = secrets.token_urlsafe(24)
    html = templates.get_template("login.html").render(
        staff=None, csrf=token, error=texts(error) if error else None, flash=None, **template_globals(texts)
    )
    response = HTMLResponse(html, status_code=status)
    set_cookie(hub_of(request), response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """The sign-in form (Arabic unless `?lang=en`)."""
    return _login_page(request, None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the name and password; one answer for any mistake, and a pause after too many."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf or not expected or not secrets.compare_digest(csrf, expected):
        return _login_page(request, "csrf", status=403)
    hub = hub_of(request)
    address = request.client.host if request.client else "unknown"
    try:
        session = accounts.sign_in(hub.engine, username, password, address)
    except accounts.SignInThrottled:
        return _login_page(request, "throttled", status=429)
    except accounts.SignInRefused:
        return _login_page(request, "wrong_login", status=401)
    response = RedirectResponse(f"{PREFIX}/queue", status_code=303)
    set_cookie(hub, response, COOKIE, session.key)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(person: Annotated[Staff, Depends(staff_form(Permission.view))]) -> Response:
    """End this session."""
    accounts.sign_out(person.hub.engine, person.session)
    response = RedirectResponse(f"{PREFIX}/login?lang={person.texts.language}", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.post("/preferences")
def preferences(person: Annotated[Staff, Depends(staff_form(Permission.view))]) -> Response:
    """Switch language or digits for this person (kept on the account)."""
    language = person.field("language", person.texts.language)
    digits = person.field("digits", "arab" if language == "ar" else "latn")
    accounts.set_preferences(person.hub.engine, person.session.user, language, digits)
    back = person.field("back", f"{PREFIX}/queue")
    return RedirectResponse(back if back.startswith(f"{PREFIX}/") else f"{PREFIX}/queue", status_code=303)
