"""`tawasul-hub agencies`: the agencies' API keys, their circuits, and a check of one agency's connection."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.errors import ConfigError, HubError
from broker import agency_keys
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.cli.conformance import conformance
from broker.cli.onboarding import offboard, onboard, shadow_report
from broker.cli.status import circuits
from broker.errors import NotFound

app = typer.Typer(no_args_is_help=True, help="Agencies (الجهات الحكومية).")
keys_app = typer.Typer(no_args_is_help=True, help="Agencies' API keys for the agency API (/agency/v1).")
app.add_typer(keys_app, name="keys")
app.command("status")(circuits)
app.command("onboard")(onboard)
app.command("offboard")(offboard)
app.command("shadow-report")(shadow_report)
app.command("conformance")(conformance)
out = Console()
err = Console(stderr=True)


@keys_app.command("create")
def create(
    agency: Annotated[str, typer.Argument(help="The agency's id in agencies.yaml.")],
    by: Annotated[str | None, typer.Option(help="Who issued it (default: your login).")] = None,
) -> None:
    """Issue an API key for AGENCY and print it once; only its hash is kept."""
    hub = loaded_hub()
    if agency not in hub.directory.agencies:
        err.print(f"[red]AGENCY: unknown agency '{agency}'[/red]")
        raise typer.Exit(2)
    issued = agency_keys.create(hub.engine, hub.directory, agency, created_by=by or getpass.getuser())
    err.print(
        f"API key {issued.id} for {agency}. Store it now: it will not be shown again. "
        "/ احفظ المفتاح الآن، فلن يُعرض مرة أخرى."
    )
    typer.echo(issued.key)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (k_…) or its lookup part.")]) -> None:
    """Revoke a key; every running API process refuses it from its next request on."""
    hub = loaded_hub()
    try:
        info = agency_keys.revoke(hub.engine, key_id)
    except NotFound as exc:
        err.print(f"[red]KEY_ID: {exc}[/red]")
        raise typer.Exit(2) from None
    assert info.revoked_at is not None
    out.print(
        f"revoked {info.id} of {info.agency_id} at {info.revoked_at:%Y-%m-%d %H:%M:%S} UTC; "
        "API processes refuse it from their next request on"
    )


@keys_app.command("list")
def list_keys(agency: Annotated[str | None, typer.Argument(help="Only this agency's keys.")] = None) -> None:
    """Every key with its agency, who issued it and whether it is revoked (never the secret)."""
    hub = loaded_hub()
    if agency is not None and agency not in hub.directory.agencies:
        err.print(f"[red]AGENCY: unknown agency '{agency}'[/red]")
        raise typer.Exit(2)
    keys = agency_keys.list_keys(hub.engine, agency)
    table = Table(title=f"API keys / مفاتيح الربط ({len(keys)})")
    for col in ("id", "agency", "lookup", "created", "by", "revoked"):
        table.add_column(col, no_wrap=col in ("id", "lookup"), overflow="fold")
    for k in keys:
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else ""
        table.add_row(k.id, k.agency_id, k.lookup, f"{k.created_at:%Y-%m-%d %H:%M}", shown(k.created_by), revoked)
    out.print(table)


@app.command("check")
def check(agency: Annotated[str, typer.Argument(help="The agency's id in agencies.yaml.")]) -> None:
    """Ask AGENCY's endpoint whether the configuration works; for SOAP, print its WSDL's operations too.

    A SOAP agency's WSDL is loaded and each operation printed with its parameter tree (types,
    occurrence, enumerations); the mapping is checked against it: unknown operations, unknown or
    missing required fields, codes outside the WSDL's enumerations. Exit 2 on any problem.
    """
    hub = loaded_hub()
    if agency not in hub.directory.agencies:
        err.print(f"[red]AGENCY: unknown agency '{agency}'[/red]")
        raise typer.Exit(2)
    adapter = hub.directory.adapter(agency)
    out.print(f"{agency}: {adapter.kind} adapter")
    explain = getattr(adapter, "explain", None)
    problems: list[str] = []
    try:
        if callable(explain):
            for line in explain():
                out.print(line, markup=False, highlight=False)
        adapter.check()
    except ConfigError as exc:
        problems = exc.problems
    except HubError as exc:
        problems = [str(exc)]
    for problem in problems:
        err.print(f"agencies.{agency}.adapter: {problem}", markup=False, style="red")
    if problems:
        raise typer.Exit(2)
    out.print("OK: the configuration fits the agency's service / الإعدادات مطابقة لخدمة الجهة")
