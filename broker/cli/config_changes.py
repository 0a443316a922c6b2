"""`tawasul-hub config check --against PATH`: validate a proposed agencies.yaml and show what it would change."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from adapters.errors import ConfigError
from broker import agency_adapters, gauges
from broker.cli._safe import shown
from broker.config import Directory, load_directory
from broker.config_diff import Change, affected, diff
from broker.hub import Hub

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _proposed(hub: Hub, path: Path) -> Directory:
    """The proposal: a folder with its own agencies.yaml and sla.yaml, or one file with the current sla.yaml."""
    try:
        if path.is_dir():
            return load_directory(path)
        return load_directory(hub.settings.config_dir, path)
    except ConfigError as exc:
        err.print(f"{shown(path)}: the proposed configuration has {len(exc.problems)} problem(s):", style="red")
        for problem in exc.problems:
            err.print(shown(problem), style="red")
        raise typer.Exit(2) from None


def _open_handoffs(hub: Hub, agencies: list[str]) -> Counter[str] | None:
    """Open handoffs per agency; None when the store cannot say (not migrated yet, say)."""
    if not agencies or agency_adapters.version(hub.engine) is None:
        return None
    try:
        with hub.engine.connect() as conn:
            rows = gauges.open_handoffs(conn)
    except SQLAlchemyError:
        return None
    counts: Counter[str] = Counter()
    for row in rows:
        counts[row.agency_id] += row.open
    return counts


def _switched(hub: Hub, changes: list[Change]) -> list[str]:
    """Agencies whose adapter the proposal changes but which were switched at run time (that switch wins)."""
    if agency_adapters.version(hub.engine) in (None, 0):
        return []
    overrides = agency_adapters.read_all(hub.engine)
    return [c.subject for c in changes if c.section in ("adapter", "status") and c.subject in overrides]


def check_against(hub: Hub, path: Path, *, offline: bool) -> None:
    """Validate the proposal (and its endpoints unless offline), then print its changes; exit 2 on any problem."""
    current = load_directory(hub.settings.config_dir)
    proposed = _proposed(hub, path)
    problems = [] if offline else proposed.check_adapters()
    for problem in problems:
        err.print(f"{shown(path)}: {shown(problem)}", style="red")
    changes = diff(current, proposed)
    touched = affected(changes)
    counts = _open_handoffs(hub, touched)
    table = Table(title=f"{path.name}: what would change / ما الذي سيتغيّر ({len(changes)})")
    for column in ("section / القسم", "agency or category / الجهة أو الفئة", "change / التغيير"):
        table.add_column(column, overflow="fold")
    for change in changes:
        table.add_row(change.section, change.subject, shown(change.detail))
    if changes:
        out.print(table)
    else:
        out.print(f"{path.name}: no change from {current.source} / لا تغيير")
    if counts is not None:
        open_now = Table(title="open handoffs of the agencies affected / الحالات المفتوحة لدى الجهات المتأثرة")
        open_now.add_column("agency / الجهة")
        open_now.add_column("open / مفتوحة", justify="right")
        for agency in touched:
            open_now.add_row(agency, str(counts[agency]))
        out.print(open_now)
    for agency in _switched(hub, changes):
        out.print(
            f"{agency}: its adapter was switched at run time (agencies onboard/offboard); that switch stays in "
            "effect over agencies.yaml / تبقى الجهة على المحوّل الذي رُبطت به أثناء التشغيل"
        )
    verdict = "valid / صالحة" if not problems else "has problems / فيها مشكلات"
    out.print(f"{path.name}: {len(proposed.agencies)} agencies, {len(proposed.categories)} categories: {verdict}")
    if problems:
        raise typer.Exit(2)
