"""`tawasul-hub review`: the central office checks answers before they reach the citizen."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from broker import review as core
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.errors import Conflict, InvalidTransition, NotFound

app = typer.Typer(no_args_is_help=True, help="Review agencies' answers (مراجعة الردود).")
out = Console(soft_wrap=True)
err = Console(stderr=True)


def _actor(by: str | None) -> str:
    return f"central-office:{by or getpass.getuser()}"


@app.command("list")
def list_answers(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Answers waiting for review, oldest first."""
    with loaded_hub().engine.connect() as conn:
        items = core.awaiting(conn)
    if as_json:
        rows = [{**i.__dict__, "answered_at": i.answered_at.isoformat()} for i in items]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Answers to review / ردود بانتظار المراجعة ({len(items)})")
    table.add_column("handoff", no_wrap=True)
    table.add_column("reference", no_wrap=True)
    for col in ("agency", "answer"):
        table.add_column(col, overflow="fold")
    for i in items:
        table.add_row(i.handoff, shown(i.reference), i.agency, shown(i.answer))
    out.print(table)


@app.command()
def accept(
    handoff: str, by: Annotated[str | None, typer.Option(help="Reviewer (default: your login).")] = None
) -> None:
    """Accept an agency's answer; the case is replied once every agency's part is settled."""
    try:
        state = core.accept(loaded_hub().engine, handoff, _actor(by))
    except (NotFound, InvalidTransition, Conflict) as exc:
        err.print(f"[red]{shown(exc)}[/red]")
        raise typer.Exit(1) from None
    out.print(f"accepted / تم اعتماد الرد; case is now {state}")


@app.command("return")
def return_answer(
    handoff: str,
    reason: Annotated[str, typer.Option(help="Why the answer goes back (the agency reads it).")],
    by: Annotated[str | None, typer.Option(help="Reviewer (default: your login).")] = None,
) -> None:
    """Send an answer back to its agency with the reason."""
    try:
        hub = loaded_hub()
        core.send_back(hub.engine, hub.directory, handoff, reason, _actor(by))
    except (NotFound, InvalidTransition, Conflict) as exc:
        err.print(f"[red]{shown(exc)}[/red]")
        raise typer.Exit(1) from None
    out.print("returned to the agency / أعيد الرد إلى الجهة")


@app.command()
def close(
    case: str, by: Annotated[str | None, typer.Option(help="Who closes it (default: your login).")] = None
) -> None:
    """Close a replied case (by id or national reference)."""
    try:
        hub = loaded_hub()
        core.close(hub.engine, hub.directory, case, _actor(by))
    except (NotFound, InvalidTransition, Conflict) as exc:
        err.print(f"[red]{shown(exc)}[/red]")
        raise typer.Exit(1) from None
    out.print("case closed / أغلقت الحالة")
