"""`tawasul-hub retention run`: remove citizens' personal data from cases closed long enough ago."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console

from broker import retention
from broker.cli._hub import loaded_hub

app = typer.Typer(no_args_is_help=True, help="Retention of personal data (الاحتفاظ بالبيانات الشخصية).")
out = Console()
err = Console(stderr=True)


@app.command()
def run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the cases that are due.")] = False,
    days: Annotated[int | None, typer.Option(min=1, help="Days after closing (default: HUB_RETENTION_DAYS).")] = None,
) -> None:
    """Anonymise every case closed more than the retention period ago (the scheduler also does this)."""
    hub = loaded_hub()
    if days is None and hub.settings.retention_days is None:
        err.print("[red]--days: no retention period; set HUB_RETENTION_DAYS or give --days[/red]")
        raise typer.Exit(2)
    before = retention.cutoff(hub, days)
    day = before.strftime("%Y-%m-%d %H:%M UTC")
    texts = "removed" if hub.settings.retention_free_text else "kept, identifiers masked"
    if dry_run:
        out.print(
            f"{retention.count_due(hub, before)} case(s) closed before {day} would be anonymised (free text {texts})"
        )
        return
    done = retention.anonymise_due(hub, before, actor=f"retention:{getpass.getuser()}")
    rows = ", ".join(f"{n} {table}" for table, n in sorted(done.rows.items())) or "no other rows"
    out.print(f"anonymised {done.cases} case(s) closed before {day} (free text {texts}; rewrote {rows})")
