"""`tawasul-hub inbound`: what came in from agencies naming no handoff, for an officer to place or dismiss."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from broker import inbound as core
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.errors import Conflict, InvalidTransition, NotFound
from schemas import MessageKind

app = typer.Typer(no_args_is_help=True, help="Unmatched inbound messages (رسائل واردة غير مطابقة).")
out = Console(soft_wrap=True)
err = Console(stderr=True)


@app.command("unmatched")
def unmatched(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts.")] = False,
    limit: int = 200,
) -> None:
    """What came in naming no handoff (or with a token that does not verify), oldest first."""
    hub = loaded_hub()
    with hub.engine.connect() as conn:
        items = core.unresolved(conn, limit)
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2, default=str))
        return
    table = Table(title=f"Unmatched inbound / وارد غير مطابق ({len(items)})")
    for col in ("id", "agency", "received", "why", "from", "subject", "text"):
        table.add_column(col, overflow="fold")
    for i in items:
        received = f"{i['received_at'] or i['created_at']:%Y-%m-%d %H:%M}"
        table.add_row(
            i["id"],
            shown(i["agency_id"]),
            received,
            shown(i["reason"]),
            shown(i["sender"]),
            shown(i["subject"]),
            shown(i["text"][:300]),
        )
    out.print(table)


def _settle(item: str, handoff: str | None, kind: MessageKind, by: str | None) -> None:
    hub = loaded_hub()
    try:
        core.settle_unmatched(
            hub, item, actor=f"central-office:{by or getpass.getuser()}", handoff_id=handoff, kind=kind
        )
    except (NotFound, InvalidTransition, Conflict) as exc:
        err.print(f"[red]{shown(str(exc))}[/red]")
        raise typer.Exit(1) from None


@app.command()
def attach(
    item: str,
    handoff: str,
    kind: Annotated[MessageKind, typer.Option(help="What the agency said.")] = MessageKind.answered,
    by: Annotated[str | None, typer.Option(help="Who placed it (default: your login).")] = None,
) -> None:
    """Record an unmatched item as the agency's message on one of its handoffs."""
    _settle(item, handoff, kind, by)
    out.print(f"{item} recorded on {handoff} / سُجّلت الرسالة")


@app.command()
def dismiss(
    item: str, by: Annotated[str | None, typer.Option(help="Who decided (default: your login).")] = None
) -> None:
    """Take an unmatched item off the list without recording it (spam, unrelated mail)."""
    _settle(item, None, MessageKind.progress, by)
    out.print(f"{item} dismissed / أُغلقت")
