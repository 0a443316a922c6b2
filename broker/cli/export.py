"""`tawasul-hub export`: a case's audit trail, or every case of a period, as JSON Lines or CSV.

JSON Lines is the complete, lossless form. CSV is for people with a spreadsheet: a cell that
begins like a formula (`=`, `+`, `-`, `@`) is written with a leading apostrophe so a spreadsheet
shows it as text instead of running it, and a CSV file written with --output starts with a byte
order mark so spreadsheets read its Arabic as UTF-8.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from broker import export as core
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.errors import NotFound

app = typer.Typer(no_args_is_help=True, help="Exports for the national archive (التصدير للأرشيف الوطني).")
err = Console(stderr=True)

LONG = 1000
"""Exports of at least this many cases show a progress bar (on a terminal)."""

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class Format(StrEnum):
    """How records are written."""

    jsonl = "jsonl"
    csv = "csv"


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA) else value


@contextmanager
def _opened(output: Path | None, fmt: Format) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        return
    with output.open("w", encoding="utf-8-sig" if fmt is Format.csv else "utf-8", newline="") as fh:
        yield fh


def write(
    records: Iterable[dict[str, Any]],
    fmt: Format,
    out: TextIO,
    fields: tuple[str, ...],
    line: Callable[[dict[str, Any]], dict[str, Any]],
    progress: Progress | None = None,
    total: int | None = None,
) -> int:
    """Write records one at a time (JSON Lines as they are, CSV through `line`); returns how many."""
    task = progress.add_task("exporting", total=total) if progress is not None else None
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n") if fmt is Format.csv else None
    if writer is not None:
        writer.writeheader()
    n = 0
    for record in records:
        if writer is not None:
            writer.writerow({k: safe_cell(v) for k, v in line(record).items()})
        else:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        n += 1
        if progress is not None and task is not None:
            progress.advance(task)
    return n


def progress_bar(console: Console) -> Progress:
    """The bar long exports show on stderr."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


FormatOption = Annotated[Format, typer.Option("--format", help="jsonl (complete) or csv (one line per record).")]
OutputOption = Annotated[Path | None, typer.Option("--output", help="Write here instead of standard output.")]


@app.command("case")
def case_trail(case: str, fmt: FormatOption = Format.jsonl, output: OutputOption = None) -> None:
    """The audit trail of one case (hub id or national reference): every event, oldest first."""
    hub = loaded_hub()
    with hub.engine.connect() as conn:
        try:
            records = list(core.trail(conn, case))
        except NotFound as exc:
            err.print(f"[red]{shown(str(exc))}[/red]")
            raise typer.Exit(1) from None
    with _opened(output, fmt) as out:
        write(records, fmt, out, core.TRAIL_FIELDS, core.trail_line)


@app.command("cases")
def cases(
    start: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (local).")] = None,
    end: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (local).")] = None,
    fmt: FormatOption = Format.jsonl,
    output: OutputOption = None,
) -> None:
    """Every case received in the period, with its handoffs, messages and events, streamed."""
    if start and end and end < start:
        err.print("[red]--to: must not be before --from[/red]")
        raise typer.Exit(2)
    hub = loaded_hub()
    zone = hub.directory.sla.calendar.zone
    within = core.period(zone, start.date() if start else None, end.date() if end else None)
    total = core.count_cases(hub.engine, within)
    show = total >= LONG and err.is_terminal
    with _opened(output, fmt) as out, progress_bar(err) if show else _nothing() as progress:
        n = write(core.cases_within(hub.engine, within), fmt, out, core.CASE_FIELDS, core.case_line, progress, total)
    err.print(f"exported {n} case(s)" + (f" to {shown(str(output))}" if output else ""))


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
