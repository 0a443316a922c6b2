"""The `tawasul-hub` command: run the hub, check its config, work the follow-up queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError

from broker.cli import (
    adapters,
    agencies,
    deadlines,
    export,
    followup,
    inbound,
    recurring,
    report,
    retention,
    review,
    users,
)
from broker.cli._hub import err, loaded_hub, require_api_key, require_safe_leases
from broker.cli._safe import shown
from broker.hub import Hub, get_hub, set_hub
from broker.logging import configure_logging
from broker.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Tawasul hub: cases between the national system and agencies.")
db_app = typer.Typer(no_args_is_help=True, help="The store's schema.")
config_app = typer.Typer(no_args_is_help=True, help="Agency configuration.")
schemas_app = typer.Typer(no_args_is_help=True, help="JSON Schemas for integrators.")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(schemas_app, name="schemas")
app.add_typer(followup.app, name="followup")
app.add_typer(inbound.app, name="inbound")
app.add_typer(review.app, name="review")
app.add_typer(agencies.app, name="agencies")
app.add_typer(adapters.app, name="adapters")
app.add_typer(deadlines.app, name="deadlines")
app.add_typer(report.app, name="report")
app.add_typer(retention.app, name="retention")
app.add_typer(export.app, name="export")
app.add_typer(recurring.app, name="recurring")
app.add_typer(users.app, name="users")


@app.callback()
def main() -> None:
    """Read settings from the environment (HUB_*) and set up logging."""
    try:
        settings = Settings()
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"[red]setting HUB_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}[/red]")
        raise typer.Exit(2) from None
    configure_logging(settings.log_format, settings.log_level)
    set_hub(Hub(settings))


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8700) -> None:
    """Run API, worker and scheduler in one process (embedded defaults: SQLite, in-process broker)."""
    from broker import runner

    hub = loaded_hub()
    require_api_key(hub)
    require_safe_leases(hub)
    runner.serve(hub, host, port)


@app.command()
def api(
    host: str = "127.0.0.1",
    port: int = 8700,
    workers: Annotated[int, typer.Option(min=1, help="API processes sharing the port.")] = 1,
) -> None:
    """Run only the HTTP APIs (distributed set-up)."""
    from broker import runner

    hub = loaded_hub()
    require_api_key(hub)
    runner.run_api(hub, host, port, workers)


@app.command()
def worker() -> None:
    """Run a Celery worker that delivers handoffs (distributed set-up)."""
    from broker import runner

    hub = loaded_hub()
    require_safe_leases(hub)
    runner.run_worker(hub)


@app.command("scheduler")
def scheduler_cmd() -> None:
    """Run the relay and periodic jobs (distributed set-up; more than one is safe)."""
    from broker import runner

    hub = loaded_hub()
    require_safe_leases(hub)
    runner.run_scheduler(hub)


@app.command()
def health(
    port: Annotated[int | None, typer.Option(help="The process's port (default: HUB_METRICS_PORT, else 8700).")] = None,
    host: str = "127.0.0.1",
    live: Annotated[bool, typer.Option("--live", help="Only ask whether it is alive (/healthz).")] = False,
) -> None:
    """Ask a running api, worker or scheduler whether it is ready; exit 0 if it is, 1 if not (for healthchecks)."""
    import requests

    port = port or get_hub().settings.metrics_port or 8700
    url = f"http://{host}:{port}/{'healthz' if live else 'readyz'}"
    try:
        answer = requests.get(url, timeout=10)
    except requests.RequestException as exc:
        err.print(f"{url}: no answer ({type(exc).__name__})")
        raise typer.Exit(1) from None
    typer.echo(answer.text)
    raise typer.Exit(0 if answer.status_code == 200 else 1)


@app.command()
def demo(
    port: int = 8700,
    once: Annotated[bool, typer.Option(help="Exit after showing the follow-up queue.")] = False,
) -> None:
    """Start the hub on embedded defaults, submit the sample cases and show where they went."""
    from broker.cli.demo import run_demo

    run_demo(port=port, once=once)


@db_app.command("status")
def db_status() -> None:
    """Whether the schema is the one this code expects; exit 1 when it is behind (run `db upgrade`)."""
    from broker.store.migrate import schema_status

    status = schema_status(get_hub().engine)
    typer.echo(
        f"database at {', '.join(status.stored) or 'no revision'}; this code's head {status.head}: {status.state}"
    )
    raise typer.Exit(1 if status.state == "behind" else 0)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's tables to the latest schema."""
    from broker.store.migrate import upgrade

    upgrade(get_hub().engine)
    err.print("database is up to date")


@config_app.command("check")
def config_check(
    offline: Annotated[bool, typer.Option(help="Do not call the agencies' endpoints (their `check()`).")] = False,
    verbose: Annotated[bool, typer.Option(help="Print what each connected agency's adapter does.")] = False,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="A proposed agencies.yaml (or a folder with agencies.yaml and sla.yaml): validate it and show "
            "what it would change.",
        ),
    ] = None,
) -> None:
    """Validate agencies.yaml and every adapter's settings, then ask each connected agency's endpoint.

    Every problem is reported at once, each with its agency; the exit status is 2 if any. With
    --against, the proposal is checked the same way and compared with the configuration in effect:
    agencies added or removed, statuses, adapters (setting names only), routing, deadlines, and the
    open handoffs of each agency affected.
    """
    hub = loaded_hub()
    if against is not None:
        from broker.cli.config_changes import check_against

        check_against(hub, against, offline=offline)
        return
    d = hub.directory
    problems = [] if offline else d.check_adapters()
    for problem in problems:
        err.print(f"[red]{shown(problem)}[/red]")
    if verbose:
        for agency_id, described in d.describe_adapters().items():
            typer.echo(f"{agency_id}: {json.dumps(described, ensure_ascii=False)}")
    joining = sum(a.status == "joining" for a in d.agencies.values())
    kinds = sorted({a.adapter.kind for a in d.agencies.values()})
    typer.echo(
        f"{d.source}: OK: {len(d.agencies)} agencies ({joining} joining), "
        f"{len(d.categories)} categories, adapters: {', '.join(kinds)}"
    )
    sla = d.sla.config
    typer.echo(
        f"sla.yaml: OK: warn at {sla.warn_at:.0%}, {len(sla.categories)} category and {len(sla.agencies)} agency "
        f"override(s), {len(sla.escalation)} escalation level(s), {len(sla.calendar.add)} added holiday(s)"
    )
    if problems:
        raise typer.Exit(2)


@schemas_app.command("export")
def schemas_export(directory: Path) -> None:
    """Write the JSON Schema of every wire model into DIRECTORY."""
    import schemas

    directory.mkdir(parents=True, exist_ok=True)
    models: dict[str, type[BaseModel]] = {
        "case": schemas.CaseIn,
        "case-read": schemas.CaseOut,
        "agency-message": schemas.AgencyMessage,
        "agency-config": schemas.AgencyConfig,
        "event": schemas.Event,
        "event-page": schemas.EventPage,
        "envelope": schemas.Envelope,
    }
    for name, model in models.items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        typer.echo(str(path))
