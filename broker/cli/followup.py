"""`tawasul-hub followup`: the central office's work list, and recording what agencies said."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from broker import followup as core
from broker.cli._hub import loaded_hub
from broker.errors import InvalidTransition, NotFound, Unprocessable
from broker.messages import record_message
from schemas import AgencyMessage, MessageKind

app = typer.Typer(no_args_is_help=True, help="The follow-up queue (قائمة المتابعة).")
out = Console(soft_wrap=True)
err = Console(stderr=True)

KIND_LABELS = {
    MessageKind.acknowledged: "تم الاستلام / acknowledged",
    MessageKind.progress: "قيد المعالجة / in progress",
    MessageKind.answered: "تم الرد / answered",
    MessageKind.needs_info: "بحاجة إلى معلومات / needs information",
    MessageKind.transfer_requested: "طلب تحويل / transfer requested",
    MessageKind.rejected: "مرفوض / rejected",
}


@app.command("list")
def list_queue(
    agency: Annotated[str | None, typer.Option(help="Only this agency's handoffs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts.")] = False,
    limit: int = 200,
) -> None:
    """What waits on the central office: manual agencies, failed deliveries, late handoffs."""
    hub = loaded_hub()
    if agency and agency not in hub.directory.agencies:
        err.print(f"[red]--agency: unknown agency '{agency}'[/red]")
        raise typer.Exit(2)
    with hub.engine.connect() as conn:
        items = core.queue(conn, agency, limit)
    if as_json:
        typer.echo(
            json.dumps([{**i.__dict__, "since": i.since.isoformat()} for i in items], ensure_ascii=False, indent=2)
        )
        return
    table = Table(title=f"Follow-up queue / قائمة المتابعة ({len(items)})")
    for col in ("handoff", "reference"):
        table.add_column(col, no_wrap=True)
    for col in ("agency", "state", "since", "reason", "subject"):
        table.add_column(col, overflow="fold")
    for i in items:
        state = f"{i.state} [red]overdue[/red]" if i.overdue else i.state
        table.add_row(i.handoff, i.reference, i.agency, state, i.since.strftime("%Y-%m-%d %H:%M"), i.reason, i.subject)
    out.print(table)


@app.command()
def show(handoff: str) -> None:
    """One handoff: the case, the agency's contacts, messages so far and the case's events."""
    hub = loaded_hub()
    try:
        with hub.engine.connect() as conn:
            d = core.detail(conn, handoff)
    except NotFound as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    agency = hub.directory.agency(d.handoff["agency_id"])
    case = d.case["payload"]
    out.print(f"[bold]{d.handoff['id']}[/bold]  {agency.name_ar} / {agency.name_en}  state: {d.handoff['state']}")
    out.print(f"case {d.case['reference']} ({case['kind']}, {case['category']}): {case['subject']}")
    out.print(case["description"])
    if d.handoff["followup"]:
        out.print(f"[yellow]follow up: {d.handoff['followup']}[/yellow]")
    for c in agency.contacts:
        out.print(f"contact: {c.name} ({c.role}) {c.phone or ''} {c.email or ''}")
    for m in d.messages:
        out.print(
            f"message {m['created_at']:%Y-%m-%d %H:%M} {m['kind']} by {m['actor']} via {m['source']}: {m['text']}"
        )
    for e in d.events:
        out.print(f"event {e.created_at:%Y-%m-%d %H:%M:%S} {e.type} by {e.actor}")


@app.command()
def record(
    handoff: str,
    kind: Annotated[MessageKind, typer.Argument(help="What the agency said.")],
    text: Annotated[str, typer.Option(help="The agency's words (required for answered and needs_info).")] = "",
    reference: Annotated[str | None, typer.Option(help="The agency's own reference number.")] = None,
    transfer_to: Annotated[str | None, typer.Option(help="For transfer_requested: the agency to send it to.")] = None,
    by: Annotated[str | None, typer.Option(help="Who recorded it (default: your login).")] = None,
) -> None:
    """Record what an agency said by phone or letter; it flows on like a connected agency's message."""
    hub = loaded_hub()
    if kind in (MessageKind.answered, MessageKind.needs_info) and not text.strip():
        err.print(f"[red]--text: required when recording {kind.value}[/red]")
        raise typer.Exit(2)
    actor = f"central-office:{by or getpass.getuser()}"
    try:
        message = AgencyMessage(kind=kind, text=text, agency_reference=reference, transfer_to=transfer_to)
        recorded = record_message(hub.engine, hub.directory, handoff, message, source="manual", actor=actor)
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}[/red]")
        raise typer.Exit(2) from None
    except Unprocessable as exc:
        err.print(f"[red]--{exc.field.replace('_', '-')}: {exc}[/red]")
        raise typer.Exit(2) from None
    except (NotFound, InvalidTransition) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    note = " (already recorded; nothing changed)" if recorded.duplicate else ""
    out.print(f"recorded {KIND_LABELS[kind]} on {handoff}; handoff is now {recorded.handoff_state}{note}")
