"""`tawasul-hub agencies conformance`: the conformance kit against an agency's staging endpoint."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.base import Adapter
from adapters.errors import ConfigError
from broker import conformance as core
from broker import onboarding
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.cli.onboarding import _known
from broker.conformance_listener import CallbackListener
from broker.hub import Hub

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
STYLE = {"pass": "green", "FAIL": "bold red", "n/a": "dim"}


def _adapter(hub: Hub, agency: str, kind: str | None, settings: Path | None) -> Adapter:
    """The adapter under test: built from the settings file, else the agency's (its shadow's, in shadow mode)."""
    if (kind is None) != (settings is None):
        err.print("[red]--settings and --adapter go together (or leave both out)[/red]")
        raise typer.Exit(2)
    if kind is None or settings is None:
        d = hub.directory
        return d.shadow(agency) or d.adapter(agency)
    try:
        return onboarding.prepare(hub, agency, kind, settings).adapter
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(shown(problem), style="red")
        raise typer.Exit(2) from None


def _address(listen: str) -> tuple[str, int]:
    """`--listen`'s host and port (the host defaults to 127.0.0.1)."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        err.print(f"[red]--listen: expected [HOST:]PORT, got {shown(listen)}[/red]")
        raise typer.Exit(2)
    return host or "127.0.0.1", int(port)


def conformance(
    agency: Annotated[str, typer.Argument(help="The agency's id in agencies.yaml.")],
    settings: Annotated[
        Path | None, typer.Option("--settings", help="YAML: the kind's settings, as for `agencies onboard`.")
    ] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", help="The adapter kind, with --settings.")] = None,
    received: Annotated[
        str | None,
        typer.Option(
            "--received", help="URL listing what the endpoint stored, as JSON (the REST simulator's /_sim/requests)."
        ),
    ] = None,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the acknowledgement.")] = 10.0,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            metavar="[HOST:]PORT",
            help="Hear an agency that calls the hub here, standing in for the agency API (point its staging "
            "system's hub address at it).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts.")] = False,
) -> None:
    """Run the hub's checks against AGENCY's staging endpoint and print a pass/FAIL table.

    Each check sends a sample case of its own (new handoff id and idempotency key each run).
    Without --settings the agency's configured adapter is tested; with --settings and --adapter,
    the endpoint an agency is about to be onboarded onto. Exit 0 when every check passes (or is
    n/a), 1 when one fails, 2 for an unknown agency or invalid settings.
    """
    hub = loaded_hub()
    _known(hub, agency)
    address = _address(listen) if listen else None
    tested = _adapter(hub, agency, adapter, settings)
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(CallbackListener(*address)) if address else None
        if listener is not None:
            err.print(f"listening for the agency's messages at {listener.url}/agency/v1/ / بانتظار رسائل الجهة")
        results = core.run_checks(
            tested, received=core.received_from(received) if received else None, wait=wait, listener=listener
        )
    if settings is not None:
        tested.close()
    ok = core.passed(results)
    if as_json:
        document = {"agency": agency, "adapter": tested.kind, "passed": ok, "checks": [r.as_json() for r in results]}
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        table = Table(title=f"{agency}: conformance ({tested.kind}) / فحص المطابقة")
        table.add_column("check / الفحص")
        table.add_column("result", no_wrap=True)
        table.add_column("reason / السبب", overflow="fold")
        for r in results:
            en, ar = core.TITLES[r.name]
            table.add_row(f"{r.name}: {en} / {ar}", f"[{STYLE[r.status]}]{r.status}[/]", shown(r.reason))
        out.print(table)
        verdict = "all checks passed / اجتازت جميع الفحوص" if ok else "some checks failed / لم تجتز بعض الفحوص"
        out.print(verdict)
    raise typer.Exit(0 if ok else 1)
