"""`tawasul-hub agencies onboard` and `offboard`: an agency from the manual queue to its own system, and back."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.errors import ConfigError
from broker import onboarding as core
from broker import shadow_report as shadow_report_core
from broker.cli._hub import loaded_hub
from broker.cli._safe import shown
from broker.cli.export import progress_bar
from broker.errors import NotFound
from broker.hub import Hub

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

UNCHANGED = "nothing changed / لم يتغيّر شيء"


def _actor(by: str | None) -> str:
    return f"integrator:{by or getpass.getuser()}"


def _known(hub: Hub, agency: str) -> None:
    if agency not in hub.directory.agencies:
        err.print(f"[red]AGENCY: unknown agency '{shown(agency)}'[/red]")
        raise typer.Exit(2)


def _summary(summary: core.Summary, verb: str) -> None:
    table = Table(title=f"{summary.agency}: {verb}")
    table.add_column("")
    table.add_column("handoffs / الحالات", justify="right")
    table.add_row("moved now / نُقلت الآن", str(len(summary.moved)))
    table.add_row("already moved, or moved on / نُقلت سابقًا أو تغيّرت", str(len(summary.skipped)))
    out.print(table)


def onboard(
    agency: Annotated[str, typer.Argument(help="The agency's id in agencies.yaml.")],
    adapter: Annotated[str, typer.Option("--adapter", help="The adapter kind (see `tawasul-hub adapters list`).")],
    settings: Annotated[Path, typer.Option("--settings", help="YAML: the kind's settings, as in agencies.yaml.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and check only; write nothing.")] = False,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Send the endpoint copies only; the follow-up queue stays authoritative.")
    ] = False,
    include_open: Annotated[
        bool, typer.Option("--open", help="With --shadow: copy the handoffs open now too, not only new ones.")
    ] = False,
    by: Annotated[str | None, typer.Option(help="Who onboarded it (default: your login).")] = None,
) -> None:
    """Connect AGENCY's own system: validate the settings, check its endpoint, switch, re-dispatch its open handoffs.

    Each open manual handoff (not answered yet) goes out once through the new adapter with its
    deadlines unchanged. Running workers pick the switch up within seconds, no restart. If the
    settings or the check fail nothing changes; if the run stops half-way, run it again to finish.
    """
    hub = loaded_hub()
    _known(hub, agency)
    try:
        plan = core.prepare(hub, agency, adapter, settings)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(shown(problem), style="red")
        err.print(UNCHANGED)
        raise typer.Exit(2) from None
    out.print(f"{agency}: settings valid for the {adapter} adapter / الإعدادات صالحة")
    problems = core.check(plan)
    for problem in problems:
        err.print(f"{agency}: {shown(problem)}", style="red")
    if problems:
        err.print(f"the agency's endpoint failed the check; {UNCHANGED}")
        raise typer.Exit(2)
    out.print(f"{agency}: endpoint check passed / نجح فحص نظام الجهة")
    if shadow:
        _shadow(hub, plan, _actor(by), include_open=include_open, dry_run=dry_run)
        return
    todo = core.waiting(hub, agency)
    if dry_run:
        out.print(f"dry run: would switch to {adapter} and re-dispatch {len(todo)} open handoff(s); {UNCHANGED}")
        return
    with progress_bar(err) as bar:
        task = bar.add_task("re-dispatching / إعادة الإرسال", total=len(todo))
        summary = core.onboard(hub, plan, _actor(by), lambda _h, _moved: bar.advance(task))
    _summary(summary, f"onboarded onto {adapter} / رُبطت الجهة")


def _shadow(hub: Hub, plan: core.Plan, actor: str, *, include_open: bool, dry_run: bool) -> None:
    agency, kind = plan.agency.id, plan.block["kind"]
    which = "new and open handoffs" if include_open else "new handoffs"
    if dry_run:
        out.print(f"dry run: would send copies of {which} to the {kind} endpoint; {UNCHANGED}")
        return
    try:
        core.start_shadow(hub, plan, actor, include_open=include_open)
    except ConfigError as exc:
        err.print(shown(str(exc)), style="red")
        raise typer.Exit(2) from None
    out.print(
        f"{agency}: shadow mode: the {kind} endpoint receives copies of {which}; the follow-up queue stays "
        f"authoritative. Compare with `tawasul-hub agencies shadow-report {agency}`; end with `onboard` or "
        "`offboard`. / وضع الظل: تصل نسخ الحالات إلى نظام الجهة وتبقى قائمة المتابعة هي المرجع."
    )


def offboard(
    agency: Annotated[str, typer.Argument(help="The agency's id in agencies.yaml.")],
    by: Annotated[str | None, typer.Option(help="Who offboarded it (default: your login).")] = None,
) -> None:
    """Return AGENCY to the manual adapter; each of its open handoffs joins the follow-up queue."""
    hub = loaded_hub()
    _known(hub, agency)
    todo = core.connected(hub, agency)
    with progress_bar(err) as bar:
        task = bar.add_task("to the follow-up queue / إلى قائمة المتابعة", total=len(todo))
        try:
            summary = core.offboard(hub, agency, _actor(by), lambda _h, _moved: bar.advance(task))
        except NotFound as exc:
            err.print(f"[red]AGENCY: {shown(str(exc))}[/red]")
            raise typer.Exit(2) from None
    _summary(summary, "back to manual / عادت إلى المتابعة اليدوية")


def shadow_report(
    agency: Annotated[str, typer.Argument(help="The agency's id in agencies.yaml.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts.")] = False,
) -> None:
    """Compare what AGENCY's endpoint did with its shadow copies with what the officers recorded.

    Counts per finding (copy delivered, refused or not delivered; endpoint late against the
    deadlines; its answer matching, differing from, missing from or absent in the officers' record),
    then every handoff with its findings.
    """
    hub = loaded_hub()
    _known(hub, agency)
    with hub.engine.connect() as conn:
        found = shadow_report_core.report(conn, agency)
    if as_json:
        typer.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))
        return
    counts = Table(title=f"{agency}: shadow report / تقرير وضع الظل ({len(found.lines)} copies / نسخة)")
    counts.add_column("finding / النتيجة")
    counts.add_column("handoffs", justify="right")
    for name, n in found.counts.items():
        ar, en = shadow_report_core.FINDINGS[name]
        counts.add_row(f"{en} / {ar}", str(n))
    out.print(counts)
    lines = Table(title="handoffs / الحالات")
    for column in ("handoff", "reference", "copy", "findings", "endpoint answer", "officers' answer"):
        lines.add_column(column, overflow="fold")
    for line in found.lines:
        lines.add_row(
            line.handoff,
            shown(line.reference),
            line.copy,
            ", ".join(line.findings),
            shown(line.endpoint_answer or ""),
            shown(line.officer_answer or ""),
        )
    out.print(lines)
