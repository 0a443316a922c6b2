"""`tawasul-hub recurring`: group new cases now, rebuild every group, mark a known recurring problem."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from broker.cli._hub import loaded_hub
from broker.store.engine import transaction

app = typer.Typer(no_args_is_help=True, help="Recurring complaints (الشكاوى المتكررة); the report: `report recurring`.")
out = Console()
err = Console(stderr=True)


@app.command("attach")
def attach_now() -> None:
    """Group the cases not grouped yet (the scheduler does this every few seconds)."""
    from broker.recurring.store import BATCH, attach_pending

    hub = loaded_hub()
    total = 0
    while True:
        done = attach_pending(hub.engine)
        total += len(done)
        if len(done) < BATCH:
            break
    out.print(f"{total} cases grouped / تم تجميع {total} حالة")


@app.command("rebuild")
def rebuild_all() -> None:
    """Group every case again from nothing, in the order they were attached; marks are kept."""
    from broker.recurring.store import rebuild

    count = rebuild(loaded_hub().engine)
    out.print(f"{count} cases regrouped / أعيد تجميع {count} حالة")


@app.command("mark")
def mark_group(
    group: Annotated[str, typer.Argument(help="The group's id (g_…), from `report recurring`.")],
    agency: Annotated[str, typer.Option("--agency", help="The agency that owns the permanent fix.")],
    note: Annotated[str | None, typer.Option("--note", help="What is known or agreed.")] = None,
    by: Annotated[str, typer.Option("--by", help="Who marks it.")] = "central-office",
) -> None:
    """Mark a group as a known recurring problem: new cases joining it are flagged on their handoffs."""
    from broker.recurring.store import mark

    hub = loaded_hub()
    if agency not in hub.directory.agencies:
        err.print(f"[red]--agency: unknown agency {agency!r}[/red]")
        raise typer.Exit(2)
    try:
        with transaction(hub.engine) as conn:
            mark(conn, group, agency, by, note)
    except LookupError:
        err.print(f"[red]group: no group {group!r}[/red]")
        raise typer.Exit(2) from None
    out.print(f"{group}: known recurring problem, owner {agency} / مشكلة متكررة معروفة")
