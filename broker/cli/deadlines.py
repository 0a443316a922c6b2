"""`tawasul-hub deadlines`: a handoff's clocks, extensions, and running the sweep by hand."""

from __future__ import annotations

import getpass
import json
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console

from broker import deadlines as core
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.errors import InvalidTransition, NotFound, Unprocessable
from broker.store.tables import handoffs

app = typer.Typer(no_args_is_help=True, help="Deadlines (المواعيد النهائية).")
extension_app = typer.Typer(no_args_is_help=True, help="Extensions an agency asks for; the central office decides.")
app.add_typer(extension_app, name="extension")
out = Console()
err = Console(stderr=True)

By = Annotated[str | None, typer.Option(help="Who acts (default: your login).")]


def _actor(prefix: str, by: str | None) -> str:
    return f"{prefix}:{by or getpass.getuser()}"


def _fail(exc: Exception, code: int) -> typer.Exit:
    err.print(f"[red]{shown(exc)}[/red]")
    return typer.Exit(code)


@app.command()
def show(handoff: str) -> None:
    """A handoff's deadlines, in Bahrain time."""
    from sqlalchemy import select

    hub = loaded_hub()
    with hub.engine.connect() as conn:
        row = conn.execute(select(handoffs).where(handoffs.c.id == handoff)).first()
    if row is None:
        raise _fail(NotFound(f"no handoff '{handoff}'"), 1)
    cal = hub.directory.sla.calendar
    facts: dict[str, Any] = {}
    for name in ("ack_due_at", "answer_due_at", "warn_at", "next_check_at", "paused_at", "review_due_at"):
        value = getattr(row, name)
        facts[name] = cal.local(value).isoformat() if value else None
    facts.update(
        state=row.state,
        overdue=row.overdue,
        warned=row.warned,
        escalation_level=row.escalation_level,
        remaining_days=round(cal.in_days(timedelta(seconds=row.remaining)), 2) if row.remaining is not None else None,
        extension_request=row.extension_request,
    )
    out.print_json(json.dumps(facts, ensure_ascii=False))


@app.command()
def sweep() -> None:
    """Run one sweep now (the scheduler runs it every minute)."""
    from broker.sweep import sweep as run_sweep

    result = run_sweep(loaded_hub())
    out.print(
        f"warned {result.warned}, overdue {result.overdue}, escalated {result.escalated}, "
        f"stopped {result.stopped}, taken by another sweep {result.lost}"
    )


@extension_app.command("request")
def request(
    handoff: str,
    days: Annotated[int, typer.Option(min=1, max=60, help="Working days more.")],
    reason: Annotated[str, typer.Option(help="Why the agency needs them.")],
    by: By = None,
) -> None:
    """Record an agency's request for more time."""
    if not reason.strip():
        err.print("[red]--reason: required[/red]")
        raise typer.Exit(2)
    try:
        core.request_extension(loaded_hub().engine, handoff, days, reason, _actor("agency", by))
    except (NotFound, InvalidTransition, Unprocessable) as exc:
        raise _fail(exc, 1) from None
    out.print(
        f"طُلب تمديد {days} يوم عمل / extension of {days} working day(s) requested on {handoff}; "
        "waiting for the central office"
    )


def _decide(handoff: str, grant: bool, note: str, by: str | None) -> None:
    hub = loaded_hub()
    try:
        data = core.decide_extension(
            hub.engine, hub.directory.sla, handoff, grant=grant, actor=_actor("central-office", by), note=note
        )
    except NotFound as exc:
        raise _fail(exc, 1) from None
    if grant:
        out.print(f"مُنح التمديد / granted {data['days']} working day(s) on {handoff}; answer by {data['answer_by']}")
    else:
        out.print(f"رُفض التمديد / refused the extension on {handoff}")


@extension_app.command()
def grant(handoff: str, note: Annotated[str, typer.Option(help="A word for the record.")] = "", by: By = None) -> None:
    """Grant the waiting request: the answer-by time moves."""
    _decide(handoff, True, note, by)


@extension_app.command()
def refuse(handoff: str, note: Annotated[str, typer.Option(help="Why it is refused.")] = "", by: By = None) -> None:
    """Refuse the waiting request: the deadline stands."""
    _decide(handoff, False, note, by)
