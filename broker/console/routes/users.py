"""Staff accounts for administrators: list, create, disable (the CLI `tawasul-hub users` does the same)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from broker.console import accounts
from broker.console.permissions import Permission, Role
from broker.console.routes.actions import act
from broker.console.web import PREFIX, Staff, staff, staff_form
from broker.errors import Conflict, Unprocessable

router = APIRouter()
Admin = Annotated[Staff, Depends(staff_form(Permission.manage_users))]


@router.get("/users", response_class=HTMLResponse)
def users_page(person: Annotated[Staff, Depends(staff(Permission.manage_users))]) -> HTMLResponse:
    """Every account."""
    with person.hub.engine.connect() as conn:
        users = accounts.list_users(conn)
    return person.render("users.html", users=users, roles=list(Role))


@router.post("/users")
def create(person: Admin) -> RedirectResponse:
    """Create an account with a generated password, shown once to the administrator."""
    password = secrets.token_urlsafe(12)
    role = person.field("role")
    username = person.field("username").strip().lower()
    try:
        accounts.create_user(
            person.hub.engine,
            username,
            Role(role) if role in Role.__members__ else Role.officer,
            password,
            display_name=person.field("name").strip(),
            language=person.field("language", "ar"),
            actor=person.actor,
        )
    except (Unprocessable, Conflict) as exc:
        return person.redirect(f"{PREFIX}/users", f"{person.texts('not_done')} {exc}")
    return person.redirect(f"{PREFIX}/users", f"{person.texts('done')} {username}: {password}")


@router.post("/users/{username}/disable")
def disable(username: str, person: Admin) -> RedirectResponse:
    """Disable an account; its sessions end."""
    return act(
        person, f"{PREFIX}/users", lambda: accounts.disable_user(person.hub.engine, username, actor=person.actor)
    )
