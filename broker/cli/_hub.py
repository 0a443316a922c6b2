"""What every command shares: the hub with its configuration checked, and the error console."""

from __future__ import annotations

import typer
from rich.console import Console

from broker.errors import ConfigError
from broker.hub import Hub, get_hub

err = Console(stderr=True)


def loaded_hub() -> Hub:
    """The hub with its configuration checked; a bad config ends the command with every problem."""
    hub = get_hub()
    try:
        hub.directory  # noqa: B018 - loading validates
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    return hub


def refuse_unsound(hub: Hub) -> None:
    """Refuse to start with settings that are unsafe (short keys, an unsigned or plain-http webhook)."""
    problems = hub.settings.startup_problems()
    for problem in problems:
        err.print(problem, style="red", markup=False)
    if problems:
        raise typer.Exit(2)


def require_api_key(hub: Hub) -> None:
    """Refuse to serve without the national system's key (secrets come only from the environment)."""
    if hub.settings.national_api_key is None:
        err.print("[red]HUB_NATIONAL_API_KEY is not set: the intake API would admit nobody.[/red]")
        raise typer.Exit(2)
    refuse_unsound(hub)
    if hub.settings.key_pepper is None:
        err.print(
            "HUB_KEY_PEPPER is not set: agencies' keys are hashed without a secret pepper (set one in production)."
        )


def require_safe_leases(hub: Hub) -> None:
    """Refuse to run deliveries with a lease shorter than the longest delivery the settings allow."""
    problem = hub.settings.lease_problem()
    if problem:
        err.print(f"[red]{problem}[/red]")
        raise typer.Exit(2)
    refuse_unsound(hub)
