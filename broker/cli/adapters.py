"""`tawasul-hub adapters`: the adapter kinds this hub can load, and a new adapter package from a template."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adapters.errors import ConfigError
from adapters.registry import ENTRY_POINT_GROUP, _builtin, adapter_class, known_kinds

app = typer.Typer(no_args_is_help=True, help="Adapter kinds (built-in and installed) and new adapter packages.")
out = Console()
err = Console(stderr=True)


def _source(kind: str) -> str:
    """Where a kind comes from: 'built-in', or the installed distribution that registers it."""
    if kind in _builtin():
        return "built-in"
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            dist = ep.dist.name if ep.dist is not None else "?"
            return f"{dist} ({ep.value})"
    return "?"


def described(kind: str) -> dict[str, Any]:
    """What `adapters list` says about one kind: source, capabilities, settings schema (or why it will not load)."""
    entry: dict[str, Any] = {"kind": kind, "source": _source(kind)}
    try:
        cls = adapter_class(kind)
    except (ConfigError, ImportError) as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}"
        return entry
    caps = cls.capabilities.model_dump(mode="json")
    caps["follow_ons"] = sorted(caps["follow_ons"])
    entry["class"] = f"{cls.__module__}.{cls.__qualname__}"
    entry["capabilities"] = caps
    entry["settings"] = cls.settings_model.model_json_schema()
    return entry


def _settings_line(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    return ", ".join(f"{name}{'*' if name in required else ''}" for name in schema.get("properties", {})) or "—"


def _caps_line(caps: dict[str, Any]) -> str:
    flags = [name for name, value in caps.items() if value is True]
    if caps.get("follow_ons"):
        flags.append("follow_ons=" + "|".join(caps["follow_ons"]))
    return ", ".join(flags) or "deliver (more from settings)"


@app.command("list")
def list_adapters(
    as_json: Annotated[bool, typer.Option("--json", help="Print everything, settings' JSON Schemas included.")] = False,
) -> None:
    """Built-in and installed adapter kinds with their capabilities and settings (* = required).

    Capabilities are the class's defaults; an adapter may widen or narrow them from an agency's settings.
    Installed kinds are Python packages registered under the entry-point group `tawasul_hub.adapters`.
    """
    entries = [described(kind) for kind in known_kinds()]
    if as_json:
        typer.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Adapter kinds / أنواع المحوّلات ({len(entries)})")
    for col in ("kind", "source", "capabilities", "settings"):
        table.add_column(col, overflow="fold")
    for e in entries:
        if "error" in e:
            table.add_row(e["kind"], e["source"], f"[red]cannot load: {e['error']}[/red]", "")
        else:
            table.add_row(e["kind"], e["source"], _caps_line(e["capabilities"]), _settings_line(e["settings"]))
    out.print(table)


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="The adapter's name, e.g. 'acme-tickets' (its kind: acme_tickets).")],
    directory: Annotated[
        Path | None, typer.Option(help="Where to write the package (default: ./tawasul-adapter-NAME).")
    ] = None,
) -> None:
    """Scaffold an adapter package: adapter class, settings model, entry point, a contract-kit test, a README.

    Only its transport (`send()` in adapter.py) is left to fill in; then `pip install -e DIR` and
    `pytest DIR` runs the hub's contract kit against it.
    """
    from adapters.scaffold import Names, scaffold

    try:
        names = Names.of(name)
        target = directory or Path(names.dist)
        written = scaffold(name, target)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    for path in written:
        typer.echo(str(path))
    err.print(
        f"Adapter kind '{names.kind}' in {target}. Next: fill in send() in {names.module}/adapter.py, "
        f"then `pip install -e {target}` and `pytest {target}`. / عبّئ دالة send() ثم شغّل الاختبارات."
    )
