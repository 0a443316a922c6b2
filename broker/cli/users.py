"""`tawasul-hub users`: the console's staff accounts (إدارة المستخدمين)."""

from __future__ import annotations

import getpass
import secrets
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.console import accounts
from broker.console.permissions import Role
from broker.errors import Conflict, NotFound, Unprocessable

app = typer.Typer(no_args_is_help=True, help="Staff accounts of the web console (/console).")
out = Console(soft_wrap=True)
err = Console(stderr=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _password(generate: bool) -> str:
    if generate:
        return secrets.token_urlsafe(12)
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        err.print("[red]the two passwords differ[/red]")
        raise typer.Exit(2)
    return str(first)


def _fail(exc: Exception, code: int) -> typer.Exit:
    err.print(f"[red]{shown(str(exc))}[/red]")
    return typer.Exit(code)


@app.command()
def create(
    username: str,
    role: Annotated[Role, typer.Option(help="officer (follow-up), reviewer or admin.")],
    name: Annotated[str, typer.Option(help="The name shown in the console.")] = "",
    language: Annotated[str, typer.Option(help="ar (right to left) or en.")] = "ar",
    generate: Annotated[bool, typer.Option(help="Make up a password and print it once.")] = False,
) -> None:
    """Create an account; the password is asked for twice (or generated with --generate)."""
    hub = loaded_hub()
    password = _password(generate)
    try:
        user = accounts.create_user(
            hub.engine, username, role, password, display_name=name, language=language, actor=_actor()
        )
    except Unprocessable as exc:
        raise _fail(exc, 2) from None
    except Conflict as exc:
        raise _fail(exc, 1) from None
    out.print(f"created {user.username} ({role.value}) / تم إنشاء المستخدم")
    if generate:
        out.print(f"password: {password}")


@app.command()
def disable(username: str) -> None:
    """Disable an account: it cannot sign in and its sessions end."""
    try:
        accounts.disable_user(loaded_hub().engine, username, actor=_actor())
    except NotFound as exc:
        raise _fail(exc, 1) from None
    out.print(f"{username} disabled / تم تعطيل المستخدم")


@app.command("reset-password")
def reset_password(
    username: str,
    generate: Annotated[bool, typer.Option(help="Make up a password and print it once.")] = False,
) -> None:
    """Set a new password (this enables a disabled account again); its sessions end."""
    hub = loaded_hub()
    password = _password(generate)
    try:
        accounts.reset_password(hub.engine, username, password, actor=_actor())
    except Unprocessable as exc:
        raise _fail(exc, 2) from None
    except NotFound as exc:
        raise _fail(exc, 1) from None
    out.print(f"new password set for {username} / تم تعيين كلمة مرور جديدة")
    if generate:
        out.print(f"password: {password}")


@app.command("list")
def list_users() -> None:
    """Every account with its role and whether it is active."""
    with loaded_hub().engine.connect() as conn:
        users = accounts.list_users(conn)
    table = Table(title=f"Console users / المستخدمون ({len(users)})")
    for col in ("username", "name", "role", "state"):
        table.add_column(col)
    for u in users:
        table.add_row(u.username, shown(u.display_name), u.role.value, "disabled" if u.disabled else "active")
    out.print(table)
