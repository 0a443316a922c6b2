"""`tawasul-hub report`: statistics for the central office."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.reports import AgencySla, sla_report
from broker.store.engine import now

app = typer.Typer(no_args_is_help=True, help="Statistics (الإحصاءات).")
out = Console()
err = Console(stderr=True)


@app.command("sla")
def sla(
    start: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (local).")] = None,
    end: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (local).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header line.")] = False,
) -> None:
    """Per agency: acknowledged and answered on time, working days to answer, overdue now."""
    if as_json and as_csv:
        err.print("[red]--json and --csv: choose one[/red]")
        raise typer.Exit(2)
    if start and end and end < start:
        err.print("[red]--to: must not be before --from[/red]")
        raise typer.Exit(2)
    hub = loaded_hub()
    with hub.engine.connect() as conn:
        lines = sla_report(conn, hub.directory.sla, start.date() if start else None, end.date() if end else None, now())
    rows = [dataclasses.asdict(line) for line in lines]
    if as_json:
        period = {"from": start.date().isoformat() if start else None, "to": end.date().isoformat() if end else None}
        typer.echo(json.dumps({**period, "agencies": rows}, ensure_ascii=False, indent=2))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=[f.name for f in dataclasses.fields(AgencySla)])
        writer.writeheader()
        writer.writerows(rows)
    else:
        out.print(_table(lines))


def _table(lines: list[AgencySla]) -> Table:
    table = Table(title="SLA / الالتزام بالمواعيد")
    for col in ("agency", "handoffs", "ack on time", "answered on time", "median days", "p90 days", "overdue now"):
        table.add_column(col, justify="left" if col == "agency" else "right")
    for x in lines:
        table.add_row(
            x.agency,
            str(x.handoffs),
            _pct(x.acknowledged_on_time),
            _pct(x.answered_on_time),
            _num(x.median_days_to_answer),
            _num(x.p90_days_to_answer),
            str(x.overdue_now),
        )
    return table


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@app.command("recurring")
def recurring(
    start: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (local).")] = None,
    end: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (local).")] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="Only groups with a case sent to this agency.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header line.")] = False,
) -> None:
    """Recurring complaints (الشكاوى المتكررة): groups of cases reporting one problem at one place."""
    from broker.recurring.report import CSV_FIELDS, csv_row, recurring_report

    if as_json and as_csv:
        err.print("[red]--json and --csv: choose one[/red]")
        raise typer.Exit(2)
    if start and end and end < start:
        err.print("[red]--to: must not be before --from[/red]")
        raise typer.Exit(2)
    hub = loaded_hub()
    if agency is not None and agency not in hub.directory.agencies:
        err.print(f"[red]--agency: unknown agency {agency!r}[/red]")
        raise typer.Exit(2)
    with hub.engine.connect() as conn:
        groups = recurring_report(
            conn, hub.directory.sla.calendar.zone, start.date() if start else None, end.date() if end else None, agency
        )
    rows = [dataclasses.asdict(g) for g in groups]
    if as_json:
        period = {"from": start.date().isoformat() if start else None, "to": end.date().isoformat() if end else None}
        typer.echo(json.dumps({**period, "agency": agency, "groups": rows}, ensure_ascii=False, indent=2))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(csv_row(g) for g in groups)
    else:
        table = Table(title="Recurring complaints / الشكاوى المتكررة")
        for col in ("group", "cases", "place", "categories", "agencies", "first", "last", "trend", "known"):
            table.add_column(col)
        for g in groups:
            place = "/".join(p for p in (g.governorate, g.block, g.road) if p) or "-"
            table.add_row(
                shown(g.group),
                str(g.cases),
                shown(place),
                shown(" ".join(g.categories)),
                " ".join(g.agencies),
                g.first_report[:10],
                g.last_report[:10],
                " ".join(str(n) for _, n in g.trend),
                g.owner_agency or "",
            )
        out.print(table)
