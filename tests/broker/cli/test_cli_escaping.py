"""Text written by citizens and agencies cannot drive the central office's terminal (M6)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from broker.cli import app
from broker.cli._safe import plain, shown
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.engine import transaction
from broker.store.tables import cases, handoffs
from tests.conftest import make_case
from tests.support import pump

runner = CliRunner()

OSC_TITLE = "\x1b]0;PWNED-TITLE\x07"
OSC_LINK = "\x1b]8;;https://evil.example/login\x1b\\هنا\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J\x1b[1;1H"

NASTY = [
    ("[bold]عاجل[/bold]", "[bold]عاجل[/bold]"),
    ("انقطاع [/] المياه", "انقطاع [/] المياه"),
    ("[link=https://evil.example/login]هنا للتحقق[/link]", "[link=https://evil.example/login]هنا للتحقق[/link]"),
    (f"a{OSC_TITLE}b", "ab"),
    (f"a{OSC_LINK}b", "aهناb"),
    (f"{CLEAR}x", "x"),
    ("a\x9b31mb", "a31mb"),
    ("a\x00b\x07c\x08d\re", "abcde"),
    ("صورة\u202egpj.exe", "صورةgpj.exe"),
    ("سطر\tأول\nسطر ثان", "سطر\tأول\nسطر ثان"),
]


@pytest.mark.parametrize(("raw", "printed"), NASTY, ids=range(len(NASTY)))
def test_shown_text_prints_literally_without_markup_or_control_sequences(raw: str, printed: str) -> None:
    """M6: one helper strips control sequences and escapes rich markup; what prints is the plain text."""
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None, force_terminal=True)
    console.print(shown(raw))
    out = console.export_text()
    assert out.rstrip("\n") == printed.expandtabs(8)  # rich expands tabs
    assert "\x1b" not in plain(raw)


@pytest.fixture
def poisoned(sqlite_hub: Hub) -> tuple[Hub, str]:
    """A case on the follow-up queue whose citizen text and agency note hold markup and escape sequences."""
    subject = f"انقطاع [/] المياه [bold]x {OSC_TITLE}"
    case = make_case(category="social-insurance-pensions", subject="تأخر صرف المعاش")
    [accepted] = submit_cases(sqlite_hub.engine, sqlite_hub.directory, [case], actor="national-system")
    pump(sqlite_hub)
    with transaction(sqlite_hub.engine) as conn:
        payload = dict(conn.execute(select(cases.c.payload).where(cases.c.id == accepted.case_id)).scalar_one())
        # stored before control characters were refused at intake, or from another path
        payload["subject"] = subject
        payload["description"] = f"[link=https://evil.example/login]هنا للتحقق[/link] {OSC_LINK} {CLEAR}[/bold]"
        conn.execute(update(cases).where(cases.c.id == accepted.case_id).values(payload=payload))
        conn.execute(
            update(handoffs)
            .where(handoffs.c.case_id == accepted.case_id)
            .values(followup=f"agency said [red]no[/] {OSC_TITLE}")
        )
        handoff = conn.execute(select(handoffs.c.id).where(handoffs.c.case_id == accepted.case_id)).scalar_one()
    return sqlite_hub, handoff


def _env(hub: Hub) -> dict[str, str]:
    return {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console", "COLUMNS": "300"}


def test_followup_list_and_show_print_citizen_and_agency_text_literally(poisoned: tuple[Hub, str]) -> None:
    """M6: a subject with `[/]`, `[link=…]` and ESC sequences neither breaks nor drives `followup list`/`show`."""
    hub, handoff = poisoned
    listed = runner.invoke(app, ["followup", "list"], env=_env(hub))
    assert listed.exit_code == 0, listed.output
    assert "[/]" in listed.output and "[bold]" in listed.output
    shown_ = runner.invoke(app, ["followup", "show", handoff], env=_env(hub))
    assert shown_.exit_code == 0, shown_.output
    assert "[link=https://evil.example/login]" in shown_.output and "[/bold]" in shown_.output
    assert "[red]no[/]" in shown_.output
    for output in (listed.output, shown_.output):
        assert "\x1b" not in output and "\x07" not in output
    as_json = json.loads(runner.invoke(app, ["followup", "list", "--json"], env=_env(hub)).output)
    assert as_json[0]["subject"].startswith("انقطاع [/] المياه")  # the data itself is untouched
