"""`tawasul-hub agencies status`: each agency's deliveries in flight, its limit and its circuit breaker."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from broker import isolation
from broker.circuit import CircuitState
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown

out = Console()

STATE_LABELS = {
    CircuitState.closed: "مغلقة / closed",
    CircuitState.open: "[red]مفتوحة / open[/red]",
    CircuitState.half_open: "[yellow]قيد الاختبار / half-open[/yellow]",
}


def circuits(
    only_open: Annotated[bool, typer.Option("--open", help="Only agencies whose circuit is not closed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts.")] = False,
) -> None:
    """Which agencies the hub has parked (circuit open) and how many deliveries each has in flight."""
    hub = loaded_hub()
    with hub.engine.connect() as conn:
        rows = isolation.status(conn, hub)
    if only_open:
        rows = [r for r in rows if r.circuit.state is not CircuitState.closed]
    if as_json:
        doc = [
            {
                "agency": r.agency,
                "in_flight": r.in_flight,
                "max_in_flight": r.max_in_flight,
                "handoffs_in_flight": r.handoffs,
                "state": r.circuit.state.value,
                "consecutive_failures": r.circuit.consecutive_failures,
                "opened_at": r.circuit.opened_at.isoformat() if r.circuit.opened_at else None,
                "opened_until": r.circuit.opened_until.isoformat() if r.circuit.opened_until else None,
                "last_error": r.circuit.last_error,
            }
            for r in rows
        ]
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    table = Table(title="Agency circuits / حالة الاتصال بالجهات")
    for col in ("agency", "circuit", "in flight (handoffs)", "failures", "open since", "next probe", "last error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        c = r.circuit
        table.add_row(
            r.agency,
            STATE_LABELS[c.state],
            f"{r.in_flight}/{r.max_in_flight} ({r.handoffs})",
            str(c.consecutive_failures),
            f"{c.opened_at:%Y-%m-%d %H:%M:%S}" if c.opened_at else "",
            f"{c.opened_until:%H:%M:%S}" if c.state is CircuitState.open and c.opened_until else "",
            shown(c.last_error or ""),
        )
    out.print(table)
