"""`tawasul-hub followup`: the central office's work list, and what officers record and decide on it."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from broker import follow_ons, redelivery, transfers
from broker import followup as core
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from broker.messages import Sender, record_message
from schemas import AgencyMessage, FollowupReason, MessageKind

app = typer.Typer(no_args_is_help=True, help="The follow-up queue (قائمة المتابعة).")
out = Console(soft_wrap=True)
err = Console(stderr=True)
T = TypeVar("T")

KIND_LABELS = {
    MessageKind.acknowledged: "تم الاستلام / acknowledged",
    MessageKind.progress: "قيد المعالجة / in progress",
    MessageKind.answered: "تم الرد / answered",
    MessageKind.needs_info: "بحاجة إلى معلومات / needs information",
    MessageKind.transfer_requested: "طلب تحويل / transfer requested",
    MessageKind.rejected: "مرفوض / rejected",
}


def _actor(by: str | None) -> str:
    return f"central-office:{by or getpass.getuser()}"


def _run(action: Callable[[], T]) -> T:
    """Run a core action; a refusal ends the command with its reason (2: the input, 1: the state)."""
    try:
        return action()
    except Unprocessable as exc:
        err.print(f"[red]--{exc.field.replace('_', '-')}: {shown(str(exc))}[/red]")
        raise typer.Exit(2) from None
    except (NotFound, InvalidTransition, Conflict) as exc:
        err.print(f"[red]{shown(str(exc))}[/red]")
        raise typer.Exit(1) from None


@app.command("list")
def list_queue(
    agency: Annotated[str | None, typer.Option(help="Only this agency's handoffs.")] = None,
    reason: Annotated[FollowupReason | None, typer.Option(help="Only handoffs waiting for this reason.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in the reference, the handoff id or the case.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts.")] = False,
    limit: int = 200,
) -> None:
    """What waits on the central office, soonest due first, with the count for each reason."""
    hub = loaded_hub()
    if agency and agency not in hub.directory.agencies:
        err.print(f"[red]--agency: unknown agency '{shown(agency)}'[/red]")
        raise typer.Exit(2)
    with hub.engine.connect() as conn:
        items = core.queue(conn, agency, limit, reason=reason, search=search)
        counts = core.counts(conn, agency)
    if as_json:
        rows = [
            {
                **i.__dict__,
                "since": i.since.isoformat(),
                "answer_due_at": i.answer_due_at and i.answer_due_at.isoformat(),
            }
            for i in items
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    summary = ", ".join(f"{core.LABELS[r][1]} {n}" for r, n in counts.items() if n)
    table = Table(title=f"Follow-up queue / قائمة المتابعة ({len(items)}): {summary or 'empty'}")
    for col in ("handoff", "reference"):
        table.add_column(col, no_wrap=True)
    for col in ("agency", "reason", "due", "note", "subject"):
        table.add_column(col, overflow="fold")
    for i in items:
        label = f"{core.LABELS[i.reason][1]} / {core.LABELS[i.reason][0]}"
        due = i.answer_due_at.strftime("%Y-%m-%d %H:%M") if i.answer_due_at else ""
        table.add_row(i.handoff, shown(i.reference), i.agency, label, due, shown(i.note), shown(i.subject))
    out.print(table)


@app.command()
def show(handoff: str) -> None:
    """One handoff: the case, the agency's contacts, messages both ways and the case's events."""
    hub = loaded_hub()
    with hub.engine.connect() as conn:
        d = _run(lambda: core.detail(conn, handoff))
    h = d.handoff
    agency = hub.directory.agency(h.agency_id)
    case = d.case["payload"]
    out.print(
        f"[bold]{h.id}[/bold]  {shown(agency.name_ar)} / {shown(agency.name_en)}  state: {h.state}  round: {h.round}"
    )
    kind = f"{shown(case['kind'])}, {shown(case['category'])}"
    out.print(f"case {shown(d.case['reference'])} ({kind}): {shown(case['subject'])}")
    out.print(shown(case["description"]))
    if h.followup_reason:
        reason = core.LABELS[FollowupReason(h.followup_reason)]
        out.print(f"[yellow]follow up ({reason[1]} / {reason[0]}): {shown(h.followup or '')}[/yellow]")
    for c in agency.contacts:
        out.print(f"contact: {shown(c.name)} ({shown(c.role)}) {shown(c.phone or '')} {shown(c.email or '')}")
    for m in d.messages:
        when = f"{m['created_at']:%Y-%m-%d %H:%M}"
        out.print(f"message {when} {m['kind']} by {shown(m['actor'])} via {shown(m['source'])}: {shown(m['text'])}")
    for f in d.follow_ons:
        out.print(f"follow-on {f['id']} {f['created_at']:%Y-%m-%d %H:%M} {f['kind']} \\[{shown(f['state'])}]")
    for e in d.events:
        out.print(f"event {e.created_at:%Y-%m-%d %H:%M:%S} {e.type} by {shown(e.actor)}")


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
    try:
        message = AgencyMessage(kind=kind, text=text, agency_reference=reference, transfer_to=transfer_to)
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {shown(e['msg'])}[/red]")
        raise typer.Exit(2) from None
    sender = Sender(actor=_actor(by), source="manual")
    recorded = _run(lambda: record_message(hub.engine, hub.directory, handoff, message, sender))
    note = " (already recorded; nothing changed)" if recorded.duplicate else ""
    out.print(f"recorded {KIND_LABELS[kind]} on {handoff}; handoff is now {recorded.handoff_state}{note}")


@app.command()
def confirm(
    handoff: str,
    reference: Annotated[str, typer.Option(help="The agency's own reference for the case.")],
    by: Annotated[str | None, typer.Option(help="Who checked with the agency (default: your login).")] = None,
) -> None:
    """An uncertain delivery reached the agency after all: it counts as delivered under its reference."""
    hub = loaded_hub()
    _run(lambda: redelivery.confirm(hub.engine, handoff, reference, actor=_actor(by)))
    out.print(f"{handoff} delivered, agency reference {shown(reference)} / تم تأكيد التسليم")


@app.command()
def resend(
    handoff: str, by: Annotated[str | None, typer.Option(help="Who decided (default: your login).")] = None
) -> None:
    """Send an uncertain or failed delivery again (check first that the agency does not have it)."""
    hub = loaded_hub()
    _run(lambda: redelivery.resend(hub.engine, handoff, actor=_actor(by)))
    out.print(f"{handoff} will be delivered again / ستُعاد محاولة التسليم")


@app.command()
def transfer(
    handoff: str,
    to: Annotated[str | None, typer.Option(help="The agency the case goes to (default: the one requested).")] = None,
    refuse: Annotated[bool, typer.Option(help="Refuse the agency's request: the case stays with it.")] = False,
    reason: Annotated[str, typer.Option(help="Why (the agency reads it when refused).")] = "",
    by: Annotated[str | None, typer.Option(help="Who decided (default: your login).")] = None,
) -> None:
    """Decide an agency's transfer request, or move a case to another agency on the office's own decision."""
    hub = loaded_hub()
    new = _run(
        lambda: transfers.decide(
            hub.engine, hub.directory, handoff, approve=not refuse, to_agency=to, actor=_actor(by), reason=reason
        )
    )
    if new is None:
        out.print(f"transfer refused; {handoff} stays with its agency / رُفض طلب التحويل")
    else:
        out.print(f"transferred to {new['agency_id']} as {new['id']} / تم التحويل")


@app.command()
def cancel(
    handoff: str,
    reason: Annotated[str, typer.Option(help="Why the handoff is withdrawn (the agency reads it).")],
    by: Annotated[str | None, typer.Option(help="Who decided (default: your login).")] = None,
) -> None:
    """Withdraw a handoff from its agency."""
    hub = loaded_hub()
    _run(lambda: transfers.cancel(hub.engine, hub.directory, handoff, reason=reason, actor=_actor(by)))
    out.print(f"{handoff} withdrawn / سُحبت الحالة")


@app.command("passed-on")
def passed_on(
    follow_on: Annotated[str, typer.Argument(help="The follow-on message's id (f_…), from `followup show`.")],
    note: Annotated[str, typer.Option(help="How it was passed on (call, letter, e-mail).")] = "",
    by: Annotated[str | None, typer.Option(help="Who passed it on (default: your login).")] = None,
) -> None:
    """Record that a follow-on message was passed on to the agency by hand."""
    hub = loaded_hub()
    _run(lambda: follow_ons.passed_on(hub.engine, follow_on, _actor(by), note))
    out.print(f"{follow_on} passed on / تم الإبلاغ")
